//! The unsafe part: librdkafka's C admin API for ACLs and DescribeCluster
//! (`rd_kafka_CreateAcls`, `rd_kafka_DescribeAcls`, `rd_kafka_DeleteAcls`,
//! `rd_kafka_DescribeCluster`), every C object freed by an RAII guard.

use std::ffi::{CStr, CString};
use std::os::raw::{c_char, c_int};
use std::time::{Duration, Instant};

use rdkafka::admin::AdminClient;
use rdkafka::bindings as rd;
use rdkafka::client::DefaultClientContext;
use serde::{Deserialize, Serialize};

use super::model::*;
use super::AclError;
use crate::error::HarnessError;

/// A failure as librdkafka reports it, before it is put in words for the caller.
#[derive(Debug)]
pub(super) struct RawError {
    pub(super) code: rd::rd_kafka_resp_err_t,
    pub(super) message: String,
}

impl RawError {
    fn local(message: impl Into<String>) -> RawError {
        RawError {
            code: rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR__FAIL,
            message: message.into(),
        }
    }

    pub(super) fn into_acl_error(
        self,
        cluster: &str,
        operation: &str,
        needed: &'static str,
    ) -> AclError {
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
pub(super) struct Owned<T> {
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
pub(super) unsafe fn text(ptr: *const c_char) -> String {
    if ptr.is_null() {
        String::new()
    } else {
        CStr::from_ptr(ptr).to_string_lossy().into_owned()
    }
}

pub(super) fn c_string(what: &str, value: &str) -> Result<CString, RawError> {
    CString::new(value)
        .map_err(|_| RawError::local(format!("{what} `{value}` contains a NUL byte")))
}

/// `*mut T` array of `count` from librdkafka as a slice (empty for NULL).
///
/// # Safety
/// `ptr` is NULL or points at `count` valid elements that outlive the returned slice.
pub(super) unsafe fn c_array<'a, T>(ptr: *mut T, count: usize) -> &'a [T] {
    if ptr.is_null() || count == 0 {
        &[]
    } else {
        std::slice::from_raw_parts(ptr, count)
    }
}

/// # Safety
/// `error` is NULL or a valid `rd_kafka_error_t` that outlives the call.
pub(super) unsafe fn error_of(error: *const rd::rd_kafka_error_t) -> Option<RawError> {
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

pub(super) fn c_resource_type(t: Option<ResourceType>) -> rd::rd_kafka_ResourceType_t {
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

pub(super) fn resource_type_of(t: rd::rd_kafka_ResourceType_t) -> Option<ResourceType> {
    use rd::rd_kafka_ResourceType_t::*;
    match t {
        RD_KAFKA_RESOURCE_TOPIC => Some(ResourceType::Topic),
        RD_KAFKA_RESOURCE_GROUP => Some(ResourceType::Group),
        RD_KAFKA_RESOURCE_BROKER => Some(ResourceType::Cluster),
        RD_KAFKA_RESOURCE_TRANSACTIONAL_ID => Some(ResourceType::TransactionalId),
        _ => None,
    }
}

pub(super) fn c_pattern(p: Option<PatternType>) -> rd::rd_kafka_ResourcePatternType_t {
    use rd::rd_kafka_ResourcePatternType_t::*;
    match p {
        None => RD_KAFKA_RESOURCE_PATTERN_ANY,
        Some(PatternType::Literal) => RD_KAFKA_RESOURCE_PATTERN_LITERAL,
        Some(PatternType::Prefixed) => RD_KAFKA_RESOURCE_PATTERN_PREFIXED,
    }
}

pub(super) fn pattern_of(p: rd::rd_kafka_ResourcePatternType_t) -> Option<PatternType> {
    use rd::rd_kafka_ResourcePatternType_t::*;
    match p {
        RD_KAFKA_RESOURCE_PATTERN_LITERAL => Some(PatternType::Literal),
        RD_KAFKA_RESOURCE_PATTERN_PREFIXED => Some(PatternType::Prefixed),
        _ => None,
    }
}

pub(super) fn c_operation(o: Option<AclOperation>) -> rd::rd_kafka_AclOperation_t {
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

pub(super) fn operation_of(o: rd::rd_kafka_AclOperation_t) -> Option<AclOperation> {
    AclOperation::VARIANTS
        .iter()
        .copied()
        .find(|op| c_operation(Some(*op)) == o)
}

pub(super) fn c_permission(p: Option<Permission>) -> rd::rd_kafka_AclPermissionType_t {
    use rd::rd_kafka_AclPermissionType_t::*;
    match p {
        None => RD_KAFKA_ACL_PERMISSION_TYPE_ANY,
        Some(Permission::Allow) => RD_KAFKA_ACL_PERMISSION_TYPE_ALLOW,
        Some(Permission::Deny) => RD_KAFKA_ACL_PERMISSION_TYPE_DENY,
    }
}

pub(super) fn permission_of(p: rd::rd_kafka_AclPermissionType_t) -> Option<Permission> {
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
pub(super) unsafe fn binding_of(acl: *const rd::rd_kafka_AclBinding_t) -> Option<AclBinding> {
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

pub(super) type CBinding = Owned<rd::rd_kafka_AclBinding_t>;

/// A C binding (or, with `filter`, a binding filter, where NULL strings and ANY enums match
/// anything).
pub(super) fn c_binding(filter: bool, spec: &AclFilter) -> Result<CBinding, RawError> {
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

pub(super) fn exact(acl: &AclBinding) -> AclFilter {
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

pub(super) type Event = Owned<rd::rd_kafka_event_t>;

/// Runs one admin request on a queue of its own and waits (blocking) for its result event,
/// at most the request timeout plus a margin. The event's own error is returned as an error.
pub(super) fn request(
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

pub(super) fn create_blocking(
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

pub(super) fn describe_blocking(
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

pub(super) fn delete_blocking(
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

pub(super) fn describe_cluster_blocking(
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
