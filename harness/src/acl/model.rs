//! The ACL vocabulary as Kafka names it (resource types, pattern types, operations,
//! permissions), bindings and filters, and their parsing from text.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

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
pub(super) fn normalized(s: &str) -> String {
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
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema)]
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

pub(super) fn any_host() -> String {
    "*".to_string()
}

/// One ACL: `principal` has `permission` for `operation` from `host` on a resource pattern.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema,
)]
pub struct AclBinding {
    pub resource_type: ResourceType,
    /// The resource's name (`kafka-cluster` for the cluster), or a prefix with
    /// `pattern = "prefixed"`; `*` matches every name.
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
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
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
