//! Kafka ACLs: create, describe and delete them through librdkafka's C admin API, and decide
//! what a set of ACLs permits.
//!
//! rust-rdkafka has no ACL API, so this module calls `rd_kafka_CreateAcls`,
//! `rd_kafka_DescribeAcls` and `rd_kafka_DeleteAcls` itself, on a blocking thread with a
//! queue of its own, and frees every C object it creates (RAII guards). Two outcomes a
//! migration check must report in words are typed apart ([`AclError`]): a cluster without an
//! authorizer (`SECURITY_DISABLED`: it has no ACLs at all) and a principal that may not
//! describe or change ACLs (`CLUSTER_AUTHORIZATION_FAILED`). DescribeCluster (cluster id, broker
//! count, the client's authorized cluster operations) is here too, as it answers the same
//! "what may this client do" question.
//!
//! [`permits`] evaluates ACLs the way Kafka's `StandardAuthorizer` does for the cases a
//! migration cares about. It cannot know the cluster's `super.users` or
//! `allow.everyone.if.no.acl.found`; it says [`Decision::NoMatchingAcl`] and leaves those to
//! the caller.

use std::ffi::{CStr, CString};
use std::fmt;
use std::os::raw::{c_char, c_int};
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::admin::AdminClient;
use rdkafka::bindings as rd;
use rdkafka::client::DefaultClientContext;
use serde::{Deserialize, Serialize};

use crate::admin::Admin;
use crate::error::HarnessError;

/// A value of one of the ACL enums that is not one of its variants.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} `{given}`; valid values: {valid}")]
pub struct ParseAclError {
    pub what: &'static str,
    pub given: String,
    pub valid: String,
}

/// Lower case without `_`, `-` and spaces: `ClusterAction`, `cluster_action` and
/// `CLUSTER_ACTION` all read the same.
fn normalized(s: &str) -> String {
    s.chars()
        .filter(|c| !matches!(c, '_' | '-' | ' '))
        .flat_map(char::to_lowercase)
        .collect()
}

macro_rules! acl_enum {
    (
        $(#[$meta:meta])*
        $name:ident, $what:literal {
            $( $(#[$vmeta:meta])* $variant:ident => $snake:literal, $display:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $( $(#[$vmeta])* $variant ),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const VARIANTS: &'static [$name] = &[$($name::$variant),+];

            /// The serde (snake_case) name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $snake ),+
                }
            }
        }

        impl fmt::Display for $name {
            /// Kafka's own spelling (`Topic`, `LITERAL`, `DescribeConfigs`, `Allow`).
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(match self {
                    $( $name::$variant => $display ),+
                })
            }
        }

        impl FromStr for $name {
            type Err = ParseAclError;

            /// Accepts the snake_case name and Kafka's spelling, in any case.
            fn from_str(s: &str) -> Result<Self, ParseAclError> {
                let wanted = normalized(s.trim());
                $name::VARIANTS
                    .iter()
                    .copied()
                    .find(|v| normalized(v.as_str()) == wanted)
                    .ok_or_else(|| ParseAclError {
                        what: $what,
                        given: s.to_string(),
                        valid: $name::VARIANTS
                            .iter()
                            .map(|v| v.as_str())
                            .collect::<Vec<_>>()
                            .join(", "),
                    })
            }
        }
    };
}

acl_enum! {
    /// The kind of resource an ACL is about.
    ResourceType, "resource type" {
        Topic => "topic", "Topic",
        Group => "group", "Group",
        /// The cluster itself (resource name `kafka-cluster`).
        Cluster => "cluster", "Cluster",
        TransactionalId => "transactional_id", "TransactionalId",
    }
}

acl_enum! {
    /// How an ACL's resource name matches resource names.
    PatternType, "pattern type" {
        /// The exact name, or every name when the ACL's name is `*`.
        Literal => "literal", "LITERAL",
        /// Every name that starts with the ACL's name.
        Prefixed => "prefixed", "PREFIXED",
    }
}

acl_enum! {
    /// An operation an ACL allows or denies.
    AclOperation, "ACL operation" {
        All => "all", "All",
        Read => "read", "Read",
        Write => "write", "Write",
        Create => "create", "Create",
        Delete => "delete", "Delete",
        Alter => "alter", "Alter",
        Describe => "describe", "Describe",
        ClusterAction => "cluster_action", "ClusterAction",
        DescribeConfigs => "describe_configs", "DescribeConfigs",
        AlterConfigs => "alter_configs", "AlterConfigs",
        IdempotentWrite => "idempotent_write", "IdempotentWrite",
    }
}

acl_enum! {
    /// Whether an ACL allows or denies.
    Permission, "permission" {
        Allow => "allow", "Allow",
        Deny => "deny", "Deny",
    }
}

/// The resource name of the cluster resource.
pub const CLUSTER_RESOURCE_NAME: &str = "kafka-cluster";

/// The principal that matches every user.
pub const WILDCARD_PRINCIPAL: &str = "User:*";

fn any_host() -> String {
    "*".to_string()
}

/// One ACL: `principal` has `permission` for `operation` from `host` on a resource pattern.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AclBinding {
    pub resource_type: ResourceType,
    pub name: String,
    pub pattern: PatternType,
    /// `User:alice`; `User:*` for every user.
    pub principal: String,
    /// `*` for every host (the default).
    #[serde(default = "any_host")]
    pub host: String,
    pub operation: AclOperation,
    pub permission: Permission,
}

impl AclBinding {
    /// An ALLOW ACL from any host.
    pub fn allow(
        principal: impl Into<String>,
        operation: AclOperation,
        resource_type: ResourceType,
        name: impl Into<String>,
        pattern: PatternType,
    ) -> AclBinding {
        AclBinding {
            resource_type,
            name: name.into(),
            pattern,
            principal: principal.into(),
            host: any_host(),
            operation,
            permission: Permission::Allow,
        }
    }

    /// A DENY ACL from any host.
    pub fn deny(
        principal: impl Into<String>,
        operation: AclOperation,
        resource_type: ResourceType,
        name: impl Into<String>,
        pattern: PatternType,
    ) -> AclBinding {
        AclBinding {
            permission: Permission::Deny,
            ..AclBinding::allow(principal, operation, resource_type, name, pattern)
        }
    }
}

impl fmt::Display for AclBinding {
    /// As `kafka-acls.sh --list` words it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} has {} permission for operations: {} from hosts: {} on {}:{}:{}",
            self.principal,
            self.permission,
            self.operation,
            self.host,
            self.resource_type,
            self.pattern,
            self.name
        )
    }
}

/// Which ACLs to describe or delete; `None` matches anything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AclFilter {
    pub resource_type: Option<ResourceType>,
    /// With `pattern` unset: ACLs with exactly this name, of any pattern type.
    pub name: Option<String>,
    pub pattern: Option<PatternType>,
    pub principal: Option<String>,
    pub host: Option<String>,
    pub operation: Option<AclOperation>,
    pub permission: Option<Permission>,
}

impl AclFilter {
    /// Matches every ACL.
    pub fn any() -> AclFilter {
        AclFilter::default()
    }

    /// Only ACLs of this principal (exactly: `User:*` ACLs are not included).
    pub fn principal(mut self, principal: impl Into<String>) -> AclFilter {
        self.principal = Some(principal.into());
        self
    }

    /// Only ACLs on this kind of resource.
    pub fn resource_type(mut self, resource_type: ResourceType) -> AclFilter {
        self.resource_type = Some(resource_type);
        self
    }

    /// Only ACLs on resources with exactly this name.
    pub fn name(mut self, name: impl Into<String>) -> AclFilter {
        self.name = Some(name.into());
        self
    }

    /// Whether `acl` is one the broker would return for this filter.
    pub fn matches(&self, acl: &AclBinding) -> bool {
        self.resource_type.is_none_or(|t| t == acl.resource_type)
            && self.name.as_ref().is_none_or(|n| *n == acl.name)
            && self.pattern.is_none_or(|p| p == acl.pattern)
            && self.principal.as_ref().is_none_or(|p| *p == acl.principal)
            && self.host.as_ref().is_none_or(|h| *h == acl.host)
            && self.operation.is_none_or(|o| o == acl.operation)
            && self.permission.is_none_or(|p| p == acl.permission)
    }
}

/// What the ACLs say about one principal doing one operation on one resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// An ALLOW ACL matches and no DENY does.
    Allowed(AclBinding),
    /// A DENY ACL matches (DENY wins over any ALLOW).
    Denied(AclBinding),
    /// No ACL matches: denied, unless the principal is in `super.users` or the cluster sets
    /// `allow.everyone.if.no.acl.found=true` and no ACL exists on the resource at all.
    NoMatchingAcl,
}

impl Decision {
    pub fn is_allowed(&self) -> bool {
        matches!(self, Decision::Allowed(_))
    }
}

/// Whether `acls` let `principal` do `operation` on the resource `resource_type`:`name`, with
/// `StandardAuthorizer`'s rules: a literal ACL matches its exact name, or every name when it is
/// `*`; a prefixed ACL every name starting with it; the principal matches itself or `User:*`;
/// operation `All` matches every operation; an ALLOW of Read, Write, Delete or Alter implies
/// Describe, and an ALLOW of AlterConfigs implies DescribeConfigs (a DENY implies nothing); any
/// matching DENY wins over every ALLOW. Only ACLs for host `*` count: the client's address is
/// not known here.
pub fn permits(
    acls: &[AclBinding],
    principal: &str,
    resource_type: ResourceType,
    name: &str,
    operation: AclOperation,
) -> Decision {
    let mut allowed = None;
    for acl in acls {
        let applies = acl.resource_type == resource_type
            && (acl.principal == principal || acl.principal == WILDCARD_PRINCIPAL)
            && acl.host == "*"
            && resource_matches(acl, name)
            && operation_matches(acl, operation);
        if !applies {
            continue;
        }
        match acl.permission {
            Permission::Deny => return Decision::Denied(acl.clone()),
            Permission::Allow => {
                allowed.get_or_insert_with(|| acl.clone());
            }
        }
    }
    allowed.map_or(Decision::NoMatchingAcl, Decision::Allowed)
}

fn resource_matches(acl: &AclBinding, name: &str) -> bool {
    match acl.pattern {
        PatternType::Literal => acl.name == name || acl.name == "*",
        PatternType::Prefixed => name.starts_with(&acl.name),
    }
}

fn operation_matches(acl: &AclBinding, wanted: AclOperation) -> bool {
    use AclOperation::*;
    if acl.operation == All || acl.operation == wanted {
        return true;
    }
    if acl.permission == Permission::Deny {
        return false;
    }
    match wanted {
        Describe => matches!(acl.operation, Read | Write | Delete | Alter),
        DescribeConfigs => acl.operation == AlterConfigs,
        _ => false,
    }
}

/// An ACL request that failed.
#[derive(Debug, thiserror::Error)]
pub enum AclError {
    /// The cluster runs without an authorizer: it has no ACLs and checks nothing.
    #[error(
        "cluster `{cluster}` has no authorizer configured (security disabled), so it keeps no \
         ACLs and every client may do everything: {detail}"
    )]
    SecurityDisabled { cluster: String, detail: String },

    /// The client's principal may not describe (or, to create or delete, alter) the cluster's
    /// ACLs.
    #[error(
        "{operation} on cluster `{cluster}` is not authorized: the client's principal needs \
         {needed} on the Cluster resource (or to be a super user): {detail}"
    )]
    NotAuthorized {
        cluster: String,
        operation: String,
        needed: &'static str,
        detail: String,
    },

    /// Any other failure (unreachable broker, invalid ACL, timeout), with the broker's message.
    #[error(transparent)]
    Harness(#[from] HarnessError),
}

impl From<AclError> for HarnessError {
    fn from(e: AclError) -> HarnessError {
        match e {
            AclError::Harness(h) => h,
            AclError::SecurityDisabled { cluster, detail } => HarnessError::Kafka {
                cluster,
                operation: "an ACL request".into(),
                detail: format!("security disabled (no authorizer configured): {detail}"),
            },
            AclError::NotAuthorized {
                cluster,
                operation,
                detail,
                ..
            } => HarnessError::Kafka {
                cluster,
                operation,
                detail: format!("cluster authorization failed: {detail}"),
            },
        }
    }
}

/// A failure as librdkafka reports it, before it is put in words for the caller.
#[derive(Debug)]
struct RawError {
    code: rd::rd_kafka_resp_err_t,
    message: String,
}

impl RawError {
    fn local(message: impl Into<String>) -> RawError {
        RawError {
            code: rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR__FAIL,
            message: message.into(),
        }
    }

    fn into_acl_error(self, cluster: &str, operation: &str, needed: &'static str) -> AclError {
        use rd::rd_kafka_resp_err_t::*;
        match self.code {
            RD_KAFKA_RESP_ERR_SECURITY_DISABLED => AclError::SecurityDisabled {
                cluster: cluster.to_string(),
                detail: self.message,
            },
            RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED => AclError::NotAuthorized {
                cluster: cluster.to_string(),
                operation: operation.to_string(),
                needed,
                detail: self.message,
            },
            _ => AclError::Harness(HarnessError::Kafka {
                cluster: cluster.to_string(),
                operation: operation.to_string(),
                detail: self.message,
            }),
        }
    }
}

/// Owns a C object and frees it on drop.
struct Owned<T> {
    ptr: *mut T,
    free: unsafe extern "C" fn(*mut T),
}

impl<T> Owned<T> {
    fn new(ptr: *mut T, free: unsafe extern "C" fn(*mut T)) -> Option<Owned<T>> {
        (!ptr.is_null()).then_some(Owned { ptr, free })
    }
}

impl<T> Drop for Owned<T> {
    fn drop(&mut self) {
        // SAFETY: `ptr` is non-null, was returned by the librdkafka constructor matching
        // `free`, and is freed exactly once, here.
        unsafe { (self.free)(self.ptr) }
    }
}

/// A borrowed C string as Rust text (empty for NULL).
///
/// # Safety
/// `ptr` is NULL or a NUL-terminated string that outlives the call.
unsafe fn text(ptr: *const c_char) -> String {
    if ptr.is_null() {
        String::new()
    } else {
        CStr::from_ptr(ptr).to_string_lossy().into_owned()
    }
}

fn c_string(what: &str, value: &str) -> Result<CString, RawError> {
    CString::new(value)
        .map_err(|_| RawError::local(format!("{what} `{value}` contains a NUL byte")))
}

/// `*mut T` array of `count` from librdkafka as a slice (empty for NULL).
///
/// # Safety
/// `ptr` is NULL or points at `count` valid elements that outlive the returned slice.
unsafe fn c_array<'a, T>(ptr: *mut T, count: usize) -> &'a [T] {
    if ptr.is_null() || count == 0 {
        &[]
    } else {
        std::slice::from_raw_parts(ptr, count)
    }
}

/// # Safety
/// `error` is NULL or a valid `rd_kafka_error_t` that outlives the call.
unsafe fn error_of(error: *const rd::rd_kafka_error_t) -> Option<RawError> {
    if error.is_null() {
        return None;
    }
    let code = rd::rd_kafka_error_code(error);
    if code == rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
        return None;
    }
    Some(RawError {
        code,
        message: format!(
            "{} ({})",
            text(rd::rd_kafka_error_string(error)),
            text(rd::rd_kafka_error_name(error))
        ),
    })
}

fn c_resource_type(t: Option<ResourceType>) -> rd::rd_kafka_ResourceType_t {
    use rd::rd_kafka_ResourceType_t::*;
    match t {
        None => RD_KAFKA_RESOURCE_ANY,
        Some(ResourceType::Topic) => RD_KAFKA_RESOURCE_TOPIC,
        Some(ResourceType::Group) => RD_KAFKA_RESOURCE_GROUP,
        // Kafka's CLUSTER resource type is code 4, which librdkafka calls BROKER.
        Some(ResourceType::Cluster) => RD_KAFKA_RESOURCE_BROKER,
        Some(ResourceType::TransactionalId) => RD_KAFKA_RESOURCE_TRANSACTIONAL_ID,
    }
}

fn resource_type_of(t: rd::rd_kafka_ResourceType_t) -> Option<ResourceType> {
    use rd::rd_kafka_ResourceType_t::*;
    match t {
        RD_KAFKA_RESOURCE_TOPIC => Some(ResourceType::Topic),
        RD_KAFKA_RESOURCE_GROUP => Some(ResourceType::Group),
        RD_KAFKA_RESOURCE_BROKER => Some(ResourceType::Cluster),
        RD_KAFKA_RESOURCE_TRANSACTIONAL_ID => Some(ResourceType::TransactionalId),
        _ => None,
    }
}

fn c_pattern(p: Option<PatternType>) -> rd::rd_kafka_ResourcePatternType_t {
    use rd::rd_kafka_ResourcePatternType_t::*;
    match p {
        None => RD_KAFKA_RESOURCE_PATTERN_ANY,
        Some(PatternType::Literal) => RD_KAFKA_RESOURCE_PATTERN_LITERAL,
        Some(PatternType::Prefixed) => RD_KAFKA_RESOURCE_PATTERN_PREFIXED,
    }
}

fn pattern_of(p: rd::rd_kafka_ResourcePatternType_t) -> Option<PatternType> {
    use rd::rd_kafka_ResourcePatternType_t::*;
    match p {
        RD_KAFKA_RESOURCE_PATTERN_LITERAL => Some(PatternType::Literal),
        RD_KAFKA_RESOURCE_PATTERN_PREFIXED => Some(PatternType::Prefixed),
        _ => None,
    }
}

fn c_operation(o: Option<AclOperation>) -> rd::rd_kafka_AclOperation_t {
    use rd::rd_kafka_AclOperation_t::*;
    match o {
        None => RD_KAFKA_ACL_OPERATION_ANY,
        Some(AclOperation::All) => RD_KAFKA_ACL_OPERATION_ALL,
        Some(AclOperation::Read) => RD_KAFKA_ACL_OPERATION_READ,
        Some(AclOperation::Write) => RD_KAFKA_ACL_OPERATION_WRITE,
        Some(AclOperation::Create) => RD_KAFKA_ACL_OPERATION_CREATE,
        Some(AclOperation::Delete) => RD_KAFKA_ACL_OPERATION_DELETE,
        Some(AclOperation::Alter) => RD_KAFKA_ACL_OPERATION_ALTER,
        Some(AclOperation::Describe) => RD_KAFKA_ACL_OPERATION_DESCRIBE,
        Some(AclOperation::ClusterAction) => RD_KAFKA_ACL_OPERATION_CLUSTER_ACTION,
        Some(AclOperation::DescribeConfigs) => RD_KAFKA_ACL_OPERATION_DESCRIBE_CONFIGS,
        Some(AclOperation::AlterConfigs) => RD_KAFKA_ACL_OPERATION_ALTER_CONFIGS,
        Some(AclOperation::IdempotentWrite) => RD_KAFKA_ACL_OPERATION_IDEMPOTENT_WRITE,
    }
}

fn operation_of(o: rd::rd_kafka_AclOperation_t) -> Option<AclOperation> {
    AclOperation::VARIANTS
        .iter()
        .copied()
        .find(|op| c_operation(Some(*op)) == o)
}

fn c_permission(p: Option<Permission>) -> rd::rd_kafka_AclPermissionType_t {
    use rd::rd_kafka_AclPermissionType_t::*;
    match p {
        None => RD_KAFKA_ACL_PERMISSION_TYPE_ANY,
        Some(Permission::Allow) => RD_KAFKA_ACL_PERMISSION_TYPE_ALLOW,
        Some(Permission::Deny) => RD_KAFKA_ACL_PERMISSION_TYPE_DENY,
    }
}

fn permission_of(p: rd::rd_kafka_AclPermissionType_t) -> Option<Permission> {
    use rd::rd_kafka_AclPermissionType_t::*;
    match p {
        RD_KAFKA_ACL_PERMISSION_TYPE_ALLOW => Some(Permission::Allow),
        RD_KAFKA_ACL_PERMISSION_TYPE_DENY => Some(Permission::Deny),
        _ => None,
    }
}

/// Reads a binding from a result; `None` for kinds this module does not model (delegation
/// tokens, operations newer than librdkafka's list), which no migration check asks about.
///
/// # Safety
/// `acl` is a valid binding owned by a live result event.
unsafe fn binding_of(acl: *const rd::rd_kafka_AclBinding_t) -> Option<AclBinding> {
    Some(AclBinding {
        resource_type: resource_type_of(rd::rd_kafka_AclBinding_restype(acl))?,
        name: text(rd::rd_kafka_AclBinding_name(acl)),
        pattern: pattern_of(rd::rd_kafka_AclBinding_resource_pattern_type(acl))?,
        principal: text(rd::rd_kafka_AclBinding_principal(acl)),
        host: text(rd::rd_kafka_AclBinding_host(acl)),
        operation: operation_of(rd::rd_kafka_AclBinding_operation(acl))?,
        permission: permission_of(rd::rd_kafka_AclBinding_permission_type(acl))?,
    })
}

type CBinding = Owned<rd::rd_kafka_AclBinding_t>;

/// A C binding (or, with `filter`, a binding filter, where NULL strings and ANY enums match
/// anything).
fn c_binding(filter: bool, spec: &AclFilter) -> Result<CBinding, RawError> {
    let name = spec
        .name
        .as_deref()
        .map(|n| c_string("resource name", n))
        .transpose()?;
    let principal = spec
        .principal
        .as_deref()
        .map(|p| c_string("principal", p))
        .transpose()?;
    let host = spec
        .host
        .as_deref()
        .map(|h| c_string("host", h))
        .transpose()?;
    let ptr_of = |s: &Option<CString>| s.as_ref().map_or(std::ptr::null(), |s| s.as_ptr());
    let mut errstr = [0 as c_char; 512];
    let new = if filter {
        rd::rd_kafka_AclBindingFilter_new
    } else {
        rd::rd_kafka_AclBinding_new
    };
    // SAFETY: the strings live until the call returns (librdkafka copies them); `errstr` is a
    // writable buffer of the size passed.
    let ptr = unsafe {
        new(
            c_resource_type(spec.resource_type),
            ptr_of(&name),
            c_pattern(spec.pattern),
            ptr_of(&principal),
            ptr_of(&host),
            c_operation(spec.operation),
            c_permission(spec.permission),
            errstr.as_mut_ptr(),
            errstr.len(),
        )
    };
    Owned::new(ptr, rd::rd_kafka_AclBinding_destroy).ok_or_else(|| {
        // SAFETY: librdkafka NUL-terminates `errstr` on failure; the buffer starts zeroed.
        RawError::local(unsafe { text(errstr.as_ptr()) })
    })
}

fn exact(acl: &AclBinding) -> AclFilter {
    AclFilter {
        resource_type: Some(acl.resource_type),
        name: Some(acl.name.clone()),
        pattern: Some(acl.pattern),
        principal: Some(acl.principal.clone()),
        host: Some(acl.host.clone()),
        operation: Some(acl.operation),
        permission: Some(acl.permission),
    }
}

type Event = Owned<rd::rd_kafka_event_t>;

/// Runs one admin request on a queue of its own and waits (blocking) for its result event,
/// at most the request timeout plus a margin. The event's own error is returned as an error.
fn request(
    client: &AdminClient<DefaultClientContext>,
    op: rd::rd_kafka_admin_op_t,
    expected: rd::rd_kafka_event_type_t,
    timeout: Duration,
    include_authorized_operations: bool,
    submit: impl FnOnce(
        *mut rd::rd_kafka_t,
        *const rd::rd_kafka_AdminOptions_t,
        *mut rd::rd_kafka_queue_t,
    ),
) -> Result<Event, RawError> {
    let rk = client.inner().native_ptr();
    // SAFETY: `rk` is the live handle of `client`, which the caller keeps alive.
    let queue = Owned::new(
        unsafe { rd::rd_kafka_queue_new(rk) },
        rd::rd_kafka_queue_destroy,
    )
    .ok_or_else(|| RawError::local("librdkafka could not create a queue"))?;
    // SAFETY: as above.
    let options = Owned::new(
        unsafe { rd::rd_kafka_AdminOptions_new(rk, op) },
        rd::rd_kafka_AdminOptions_destroy,
    )
    .ok_or_else(|| RawError::local("librdkafka could not create admin options"))?;
    let timeout_ms = c_int::try_from(timeout.as_millis()).unwrap_or(c_int::MAX);
    let mut errstr = [0 as c_char; 512];
    // SAFETY: `options` is live; `errstr` is a writable buffer of the size passed.
    let err = unsafe {
        rd::rd_kafka_AdminOptions_set_request_timeout(
            options.ptr,
            timeout_ms,
            errstr.as_mut_ptr(),
            errstr.len(),
        )
    };
    if err != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
        // SAFETY: librdkafka NUL-terminated the zeroed buffer.
        return Err(RawError::local(unsafe { text(errstr.as_ptr()) }));
    }
    if include_authorized_operations {
        // SAFETY: `options` is live; a returned error is ours to destroy (the guard does).
        let error = Owned::new(
            unsafe { rd::rd_kafka_AdminOptions_set_include_authorized_operations(options.ptr, 1) },
            rd::rd_kafka_error_destroy,
        );
        // SAFETY: the error is live while its guard is.
        if let Some(e) = error.and_then(|e| unsafe { error_of(e.ptr) }) {
            return Err(e);
        }
    }
    submit(rk, options.ptr, queue.ptr);

    let deadline = Instant::now() + timeout + Duration::from_secs(5);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(RawError {
                code: rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR__TIMED_OUT,
                message: format!("no answer within {} s", timeout.as_secs() + 5),
            });
        }
        let wait = c_int::try_from(left.as_millis()).unwrap_or(c_int::MAX);
        // SAFETY: `queue` is live; the event returned is ours to destroy.
        let Some(event) = Owned::new(
            unsafe { rd::rd_kafka_queue_poll(queue.ptr, wait) },
            rd::rd_kafka_event_destroy,
        ) else {
            continue;
        };
        // SAFETY: `event` is live.
        if unsafe { rd::rd_kafka_event_type(event.ptr) } != expected {
            continue;
        }
        // SAFETY: `event` is live; its error string lives as long as it.
        let code = unsafe { rd::rd_kafka_event_error(event.ptr) };
        if code != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
            let message = unsafe { text(rd::rd_kafka_event_error_string(event.ptr)) };
            return Err(RawError { code, message });
        }
        return Ok(event);
    }
}

fn create_blocking(
    client: &AdminClient<DefaultClientContext>,
    timeout: Duration,
    acls: &[AclBinding],
) -> Result<(), RawError> {
    let bindings = acls
        .iter()
        .map(|a| c_binding(false, &exact(a)))
        .collect::<Result<Vec<_>, _>>()?;
    let mut ptrs: Vec<*mut rd::rd_kafka_AclBinding_t> = bindings.iter().map(|b| b.ptr).collect();
    let event = request(
        client,
        rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_CREATEACLS,
        rd::RD_KAFKA_EVENT_CREATEACLS_RESULT,
        timeout,
        false,
        // SAFETY: every binding is live; librdkafka copies them.
        |rk, options, queue| unsafe {
            rd::rd_kafka_CreateAcls(rk, ptrs.as_mut_ptr(), ptrs.len(), options, queue)
        },
    )?;
    // SAFETY: `event` is a live CreateAcls result; the arrays and errors it hands out live as
    // long as it does.
    unsafe {
        let result = rd::rd_kafka_event_CreateAcls_result(event.ptr);
        let mut count = 0;
        let results = rd::rd_kafka_CreateAcls_result_acls(result, &mut count);
        for (i, r) in c_array(results, count).iter().enumerate() {
            if let Some(mut e) = error_of(rd::rd_kafka_acl_result_error(*r)) {
                if let Some(acl) = acls.get(i) {
                    e.message = format!("{acl}: {}", e.message);
                }
                return Err(e);
            }
        }
    }
    Ok(())
}

fn describe_blocking(
    client: &AdminClient<DefaultClientContext>,
    timeout: Duration,
    filter: &AclFilter,
) -> Result<Vec<AclBinding>, RawError> {
    let c_filter = c_binding(true, filter)?;
    let event = request(
        client,
        rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_DESCRIBEACLS,
        rd::RD_KAFKA_EVENT_DESCRIBEACLS_RESULT,
        timeout,
        false,
        // SAFETY: the filter is live; librdkafka copies it.
        |rk, options, queue| unsafe { rd::rd_kafka_DescribeAcls(rk, c_filter.ptr, options, queue) },
    )?;
    // SAFETY: `event` is a live DescribeAcls result owning the bindings read here.
    let mut out: Vec<AclBinding> = unsafe {
        let result = rd::rd_kafka_event_DescribeAcls_result(event.ptr);
        let mut count = 0;
        let acls = rd::rd_kafka_DescribeAcls_result_acls(result, &mut count);
        c_array(acls, count)
            .iter()
            .filter_map(|a| binding_of(*a))
            .collect()
    };
    out.sort();
    Ok(out)
}

fn delete_blocking(
    client: &AdminClient<DefaultClientContext>,
    timeout: Duration,
    filter: &AclFilter,
) -> Result<Vec<AclBinding>, RawError> {
    let c_filter = c_binding(true, filter)?;
    let mut ptrs = [c_filter.ptr];
    let event = request(
        client,
        rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_DELETEACLS,
        rd::RD_KAFKA_EVENT_DELETEACLS_RESULT,
        timeout,
        false,
        // SAFETY: the filter is live; librdkafka copies it.
        |rk, options, queue| unsafe {
            rd::rd_kafka_DeleteAcls(rk, ptrs.as_mut_ptr(), ptrs.len(), options, queue)
        },
    )?;
    let mut deleted = Vec::new();
    // SAFETY: `event` is a live DeleteAcls result owning the responses read here.
    unsafe {
        let result = rd::rd_kafka_event_DeleteAcls_result(event.ptr);
        let mut count = 0;
        let responses = rd::rd_kafka_DeleteAcls_result_responses(result, &mut count);
        for response in c_array(responses, count) {
            if let Some(e) = error_of(rd::rd_kafka_DeleteAcls_result_response_error(*response)) {
                return Err(e);
            }
            let mut n = 0;
            let matching = rd::rd_kafka_DeleteAcls_result_response_matching_acls(*response, &mut n);
            deleted.extend(c_array(matching, n).iter().filter_map(|a| binding_of(*a)));
        }
    }
    deleted.sort();
    Ok(deleted)
}

/// What DescribeCluster says: the cluster id, its brokers and, when the broker reports them,
/// the cluster operations the client's own principal may do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterDescription {
    pub cluster_id: String,
    pub broker_count: usize,
    /// `None` when the broker did not say (older brokers).
    pub authorized_operations: Option<Vec<AclOperation>>,
}

impl ClusterDescription {
    /// Whether the client's principal may do `operation` on the cluster, if known.
    pub fn may(&self, operation: AclOperation) -> Option<bool> {
        self.authorized_operations
            .as_ref()
            .map(|ops| ops.contains(&operation) || ops.contains(&AclOperation::All))
    }
}

fn describe_cluster_blocking(
    client: &AdminClient<DefaultClientContext>,
    timeout: Duration,
) -> Result<ClusterDescription, RawError> {
    let event = request(
        client,
        rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_DESCRIBECLUSTER,
        rd::RD_KAFKA_EVENT_DESCRIBECLUSTER_RESULT,
        timeout,
        true,
        // SAFETY: the handles are live for the call.
        |rk, options, queue| unsafe { rd::rd_kafka_DescribeCluster(rk, options, queue) },
    )?;
    // SAFETY: `event` is a live DescribeCluster result owning what is read here.
    unsafe {
        let result = rd::rd_kafka_event_DescribeCluster_result(event.ptr);
        let mut nodes = 0;
        rd::rd_kafka_DescribeCluster_result_nodes(result, &mut nodes);
        let mut count = 0;
        let ops = rd::rd_kafka_DescribeCluster_result_authorized_operations(result, &mut count);
        let authorized_operations = (!ops.is_null()).then(|| {
            c_array(ops.cast_mut(), count)
                .iter()
                .filter_map(|o| operation_of(*o))
                .collect()
        });
        Ok(ClusterDescription {
            cluster_id: text(rd::rd_kafka_DescribeCluster_result_cluster_id(result)),
            broker_count: nodes,
            authorized_operations,
        })
    }
}

impl Admin {
    /// Runs a blocking ACL request on a blocking thread and puts its failure in words.
    async fn acl_request<T: Send + 'static>(
        &self,
        operation: &str,
        needed: &'static str,
        call: impl FnOnce(&AdminClient<DefaultClientContext>, Duration) -> Result<T, RawError>
            + Send
            + 'static,
    ) -> Result<T, AclError> {
        let (cluster, client, timeout): (&str, Arc<_>, Duration) = self.native_parts();
        tokio::task::spawn_blocking(move || call(&client, timeout))
            .await
            .map_err(|e| {
                AclError::Harness(HarnessError::Kafka {
                    cluster: cluster.to_string(),
                    operation: operation.to_string(),
                    detail: format!("the blocking ACL request failed: {e}"),
                })
            })?
            .map_err(|e| e.into_acl_error(cluster, operation, needed))
    }

    /// Creates `acls` (all or, on the first failure, an error naming the ACL).
    pub async fn create_acls(&self, acls: &[AclBinding]) -> Result<(), AclError> {
        if acls.is_empty() {
            return Ok(());
        }
        let acls = acls.to_vec();
        let operation = format!("creating {} ACL(s)", acls.len());
        self.acl_request(&operation, "Alter", move |client, timeout| {
            create_blocking(client, timeout, &acls)
        })
        .await
    }

    /// The ACLs matching `filter`, sorted.
    ///
    /// librdkafka (2.12) drops the top-level error of a DescribeAcls response, so a cluster
    /// without an authorizer and a principal without Describe on the cluster both look like
    /// "no ACLs". An empty answer is therefore checked: the brokers' `authorizer.class.name`
    /// (DescribeConfigs) tells security disabled apart, DescribeCluster's authorized
    /// operations tell a principal that may not describe.
    pub async fn describe_acls(&self, filter: &AclFilter) -> Result<Vec<AclBinding>, AclError> {
        let filter = filter.clone();
        let acls = self
            .acl_request("describing ACLs", "Describe", move |client, timeout| {
                describe_blocking(client, timeout, &filter)
            })
            .await?;
        if acls.is_empty() {
            self.explain_no_acls().await?;
        }
        Ok(acls)
    }

    /// The cluster id, broker count and the client's authorized cluster operations.
    pub async fn describe_cluster(&self) -> Result<ClusterDescription, AclError> {
        self.acl_request(
            "describing the cluster",
            "Describe",
            describe_cluster_blocking,
        )
        .await
    }

    /// Errs when an empty DescribeAcls answer hides "security disabled" or "not authorized".
    async fn explain_no_acls(&self) -> Result<(), AclError> {
        let (cluster, client, timeout) = self.native_parts();
        let cluster = cluster.to_string();
        if let Some(id) = self.broker_ids().await?.first() {
            let options = rdkafka::admin::AdminOptions::new().operation_timeout(Some(timeout));
            let results = client
                .describe_configs([&rdkafka::admin::ResourceSpecifier::Broker(*id)], &options)
                .await;
            // A failure here (typically not authorized) leaves the question to DescribeCluster.
            if let Ok(Some(Ok(resource))) = results.map(|r| r.into_iter().next()) {
                let authorizer = resource
                    .entries
                    .iter()
                    .find(|e| e.name == "authorizer.class.name");
                if let Some(entry) = authorizer {
                    if entry.value.as_deref().unwrap_or("").trim().is_empty() {
                        return Err(AclError::SecurityDisabled {
                            cluster,
                            detail: format!("broker {id} has an empty `authorizer.class.name`"),
                        });
                    }
                }
            }
        }
        let description = self.describe_cluster().await?;
        if description.may(AclOperation::Describe) == Some(false) {
            return Err(AclError::NotAuthorized {
                cluster,
                operation: "describing ACLs".into(),
                needed: "Describe",
                detail: "the cluster's authorized operations for this principal lack Describe"
                    .into(),
            });
        }
        Ok(())
    }

    /// Deletes the ACLs matching `filter` and returns them, sorted.
    pub async fn delete_acls(&self, filter: &AclFilter) -> Result<Vec<AclBinding>, AclError> {
        let filter = filter.clone();
        self.acl_request("deleting ACLs", "Alter", move |client, timeout| {
            delete_blocking(client, timeout, &filter)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use AclOperation::*;
    use PatternType::*;
    use ResourceType::*;

    const ALICE: &str = "User:alice";

    fn allow(op: AclOperation, rt: ResourceType, name: &str, p: PatternType) -> AclBinding {
        AclBinding::allow(ALICE, op, rt, name, p)
    }

    fn deny(op: AclOperation, rt: ResourceType, name: &str, p: PatternType) -> AclBinding {
        AclBinding::deny(ALICE, op, rt, name, p)
    }

    #[test]
    fn display_reads_like_kafka_acls_list() {
        let acl = allow(Read, Topic, "orders", Literal);
        assert_eq!(
            acl.to_string(),
            "User:alice has Allow permission for operations: Read from hosts: * on Topic:LITERAL:orders"
        );
        let acl = deny(DescribeConfigs, TransactionalId, "tx-", Prefixed);
        assert_eq!(
            acl.to_string(),
            "User:alice has Deny permission for operations: DescribeConfigs from hosts: * on TransactionalId:PREFIXED:tx-"
        );
    }

    #[test]
    fn serde_uses_snake_case_and_defaults_the_host() {
        let acl = allow(IdempotentWrite, TransactionalId, "tx", Prefixed);
        let json = serde_json::to_value(&acl).unwrap();
        assert_eq!(json["resource_type"], "transactional_id");
        assert_eq!(json["operation"], "idempotent_write");
        assert_eq!(json["pattern"], "prefixed");
        assert_eq!(json["permission"], "allow");
        let back: AclBinding = serde_json::from_str(
            r#"{"resource_type":"group","name":"g","pattern":"literal","principal":"User:bob",
                "operation":"read","permission":"deny"}"#,
        )
        .unwrap();
        assert_eq!(back.host, "*");
        assert_eq!(back.resource_type, Group);
        // serde names and FromStr/as_str agree for every value.
        for op in AclOperation::VARIANTS {
            assert_eq!(serde_json::to_value(op).unwrap(), op.as_str());
            assert_eq!(op.as_str().parse::<AclOperation>().unwrap(), *op);
            assert_eq!(op.to_string().parse::<AclOperation>().unwrap(), *op);
        }
        for rt in ResourceType::VARIANTS {
            assert_eq!(serde_json::to_value(rt).unwrap(), rt.as_str());
            assert_eq!(rt.to_string().parse::<ResourceType>().unwrap(), *rt);
        }
    }

    #[test]
    fn from_str_accepts_kafka_spellings_and_lists_valid_values() {
        assert_eq!(
            "CLUSTER_ACTION".parse::<AclOperation>().unwrap(),
            ClusterAction
        );
        assert_eq!(
            "DescribeConfigs".parse::<AclOperation>().unwrap(),
            DescribeConfigs
        );
        assert_eq!("PREFIXED".parse::<PatternType>().unwrap(), Prefixed);
        assert_eq!("Deny".parse::<Permission>().unwrap(), Permission::Deny);
        let err = "publish".parse::<AclOperation>().unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("unknown ACL operation `publish`"), "{msg}");
        assert!(msg.contains("read, write, create"), "{msg}");
        let err = "queue".parse::<ResourceType>().unwrap_err();
        assert!(
            err.to_string()
                .ends_with("valid values: topic, group, cluster, transactional_id"),
            "{err}"
        );
    }

    /// One row: the ACLs, the question (operation on resource type:name) and the answer.
    struct Case {
        what: &'static str,
        acls: Vec<AclBinding>,
        rt: ResourceType,
        name: &'static str,
        op: AclOperation,
        allowed: bool,
    }

    #[test]
    fn permits_follows_standard_authorizer() {
        let cases = vec![
            Case {
                what: "no ACLs: nothing allowed",
                acls: vec![],
                rt: Topic,
                name: "orders",
                op: Read,
                allowed: false,
            },
            Case {
                what: "literal exact match",
                acls: vec![allow(Write, Topic, "orders", Literal)],
                rt: Topic,
                name: "orders",
                op: Write,
                allowed: true,
            },
            Case {
                what: "literal does not match another name",
                acls: vec![allow(Write, Topic, "orders", Literal)],
                rt: Topic,
                name: "orders2",
                op: Write,
                allowed: false,
            },
            Case {
                what: "literal `*` matches every name",
                acls: vec![allow(Write, Topic, "*", Literal)],
                rt: Topic,
                name: "payments",
                op: Write,
                allowed: true,
            },
            Case {
                what: "prefixed matches names starting with it",
                acls: vec![allow(Read, Topic, "mig.", Prefixed)],
                rt: Topic,
                name: "mig.orders",
                op: Read,
                allowed: true,
            },
            Case {
                what: "prefixed does not match a shorter name",
                acls: vec![allow(Read, Topic, "mig.", Prefixed)],
                rt: Topic,
                name: "mig",
                op: Read,
                allowed: false,
            },
            Case {
                what: "prefixed `*` is no wildcard",
                acls: vec![allow(Read, Topic, "*", Prefixed)],
                rt: Topic,
                name: "orders",
                op: Read,
                allowed: false,
            },
            Case {
                what: "resource type must match",
                acls: vec![allow(Read, Group, "orders", Literal)],
                rt: Topic,
                name: "orders",
                op: Read,
                allowed: false,
            },
            Case {
                what: "operation must match",
                acls: vec![allow(Read, Topic, "orders", Literal)],
                rt: Topic,
                name: "orders",
                op: Write,
                allowed: false,
            },
            Case {
                what: "All allows every operation",
                acls: vec![allow(All, Topic, "orders", Literal)],
                rt: Topic,
                name: "orders",
                op: AlterConfigs,
                allowed: true,
            },
            Case {
                what: "Read implies Describe",
                acls: vec![allow(Read, Topic, "orders", Literal)],
                rt: Topic,
                name: "orders",
                op: Describe,
                allowed: true,
            },
            Case {
                what: "Write implies Describe",
                acls: vec![allow(Write, Topic, "orders", Literal)],
                rt: Topic,
                name: "orders",
                op: Describe,
                allowed: true,
            },
            Case {
                what: "Delete and Alter imply Describe",
                acls: vec![allow(Alter, Topic, "orders", Literal)],
                rt: Topic,
                name: "orders",
                op: Describe,
                allowed: true,
            },
            Case {
                what: "Create does not imply Describe",
                acls: vec![allow(Create, Topic, "orders", Literal)],
                rt: Topic,
                name: "orders",
                op: Describe,
                allowed: false,
            },
            Case {
                what: "AlterConfigs implies DescribeConfigs",
                acls: vec![allow(AlterConfigs, Topic, "orders", Literal)],
                rt: Topic,
                name: "orders",
                op: DescribeConfigs,
                allowed: true,
            },
            Case {
                what: "Describe does not imply Read",
                acls: vec![allow(Describe, Topic, "orders", Literal)],
                rt: Topic,
                name: "orders",
                op: Read,
                allowed: false,
            },
            Case {
                what: "DENY wins over ALLOW",
                acls: vec![
                    allow(All, Topic, "*", Literal),
                    deny(Write, Topic, "orders", Literal),
                ],
                rt: Topic,
                name: "orders",
                op: Write,
                allowed: false,
            },
            Case {
                what: "a prefixed DENY wins over a literal ALLOW",
                acls: vec![
                    allow(Read, Topic, "orders", Literal),
                    deny(Read, Topic, "ord", Prefixed),
                ],
                rt: Topic,
                name: "orders",
                op: Read,
                allowed: false,
            },
            Case {
                what: "DENY All denies Describe",
                acls: vec![
                    allow(Describe, Topic, "orders", Literal),
                    deny(All, Topic, "orders", Literal),
                ],
                rt: Topic,
                name: "orders",
                op: Describe,
                allowed: false,
            },
            Case {
                what: "a DENY of Read implies no DENY of Describe",
                acls: vec![
                    allow(Describe, Topic, "orders", Literal),
                    deny(Read, Topic, "orders", Literal),
                ],
                rt: Topic,
                name: "orders",
                op: Describe,
                allowed: true,
            },
            Case {
                what: "User:* matches every principal",
                acls: vec![AclBinding::allow(
                    WILDCARD_PRINCIPAL,
                    Read,
                    Group,
                    "g",
                    Literal,
                )],
                rt: Group,
                name: "g",
                op: Read,
                allowed: true,
            },
            Case {
                what: "another principal's ACL does not count",
                acls: vec![AclBinding::allow(
                    "User:bob", Read, Topic, "orders", Literal,
                )],
                rt: Topic,
                name: "orders",
                op: Read,
                allowed: false,
            },
            Case {
                what: "a host-specific ACL does not count",
                acls: vec![AclBinding {
                    host: "10.0.0.1".into(),
                    ..allow(Read, Topic, "orders", Literal)
                }],
                rt: Topic,
                name: "orders",
                op: Read,
                allowed: false,
            },
            Case {
                what: "prefixed transactional id",
                acls: vec![allow(Write, TransactionalId, "cutover-", Prefixed)],
                rt: TransactionalId,
                name: "cutover-g-orders-0",
                op: Write,
                allowed: true,
            },
        ];
        for case in cases {
            let decision = permits(&case.acls, ALICE, case.rt, case.name, case.op);
            assert_eq!(
                decision.is_allowed(),
                case.allowed,
                "{}: {decision:?}",
                case.what
            );
        }
    }

    #[test]
    fn decision_names_the_acl_that_decided() {
        let deny_acl = deny(Write, Topic, "orders", Literal);
        let acls = vec![allow(All, Topic, "*", Literal), deny_acl.clone()];
        assert_eq!(
            permits(&acls, ALICE, Topic, "orders", Write),
            Decision::Denied(deny_acl)
        );
        assert_eq!(
            permits(&acls, ALICE, Topic, "other", Write),
            Decision::Allowed(acls[0].clone())
        );
        assert_eq!(
            permits(&acls, "User:bob", Topic, "other", Write),
            Decision::NoMatchingAcl
        );
    }

    #[test]
    fn filters_match_like_the_broker() {
        let acl = allow(Read, Topic, "orders", Literal);
        assert!(AclFilter::any().matches(&acl));
        assert!(AclFilter::any()
            .principal(ALICE)
            .resource_type(Topic)
            .matches(&acl));
        assert!(!AclFilter::any().principal("User:bob").matches(&acl));
        assert!(!AclFilter::any().resource_type(Group).matches(&acl));
        assert!(!AclFilter::any().name("payments").matches(&acl));
    }

    #[test]
    fn c_enums_round_trip() {
        for op in AclOperation::VARIANTS {
            assert_eq!(operation_of(c_operation(Some(*op))), Some(*op));
        }
        for rt in ResourceType::VARIANTS {
            assert_eq!(resource_type_of(c_resource_type(Some(*rt))), Some(*rt));
        }
        for p in PatternType::VARIANTS {
            assert_eq!(pattern_of(c_pattern(Some(*p))), Some(*p));
        }
        for p in Permission::VARIANTS {
            assert_eq!(permission_of(c_permission(Some(*p))), Some(*p));
        }
    }

    #[test]
    fn a_nul_byte_in_a_name_is_an_error_not_a_panic() {
        let filter = AclFilter::any().name("bad\0name");
        let err = c_binding(true, &filter).err().expect("rejected");
        assert!(err.message.contains("NUL"), "{}", err.message);
    }
}
