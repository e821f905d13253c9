//! What a set of ACLs permits, by Kafka's `StandardAuthorizer` rules (no I/O).

use super::model::*;

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
