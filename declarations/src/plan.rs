//! `cutover plan`: who writes and who reads each topic, and the order in which namespaces move
//! with one-way replication (source → target). Pure logic over [`Declarations`].
//!
//! Writers and readers of a topic:
//! - ns4kafka: a namespace granted `OWNER` or `WRITE` on a topic (an `AccessControlEntry` whose
//!   pattern covers the name, [`crate::PatternType::covers`]) writes it; one granted `READ`
//!   reads it. Public entries (`grantedTo: "*"`) grant, they do not use: they are left out. A
//!   topic no `OWNER` entry covers is written by the namespace that declares it.
//! - Strimzi: a `KafkaUser` whose `allow` rule on the topic holds `Write` or `All` writes it;
//!   one holding `Read` reads it. The user's name is its node (an ns4kafka namespace of the same
//!   name is the same node).
//!
//! Topics: those declared (ns4kafka `Topic`, Strimzi `KafkaTopic`'s `topicName`) and those
//! named literally by a grant.
//!
//! Live readers ([`plan_with_groups`], `cutover plan --source`): the source's consumer groups
//! and the topics they hold committed offsets on. A group reads for the namespaces that own it
//! ([`crate::ownership::group_owners`]: `OWNER` entries of type `GROUP`, Strimzi `Read` rules),
//! which become readers of those topics as if granted `READ`; a group no namespace owns is an
//! unowned reader, listed apart (its application is placed in no wave).
//!
//! The order: data flows from each writer to each reader of a topic. With one-way replication
//! every topic is replicated before the first move, and a namespace moves only after every
//! consumer of the topics it writes has moved (until then its producers keep writing on the
//! source, which replication carries to the target where the moved consumers read): the moves
//! run against the flow, the last consumer first, the first producer last. Wave `n` holds every
//! namespace whose readers all moved in earlier waves. Namespaces that feed each other (a
//! strongly connected set of the flow graph) cannot be ordered: they are one [`Cycle`], reported
//! with the topics that close it, and placed in one wave (they move together, or one of those
//! topics is replicated back).

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::model::{Operation, Permission, ResourceType, StrimziResourceType};
use crate::Declarations;

/// Version of `--format json`; additive changes only within a major.
pub const SCHEMA_VERSION: u32 = 1;

/// Who writes and who reads one topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TopicFlow {
    pub topic: String,
    pub writers: Vec<String>,
    pub readers: Vec<String>,
}

/// Data flows from `from` (a writer) to `to` (a reader) through `topics`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Edge {
    pub from: String,
    pub to: String,
    pub topics: Vec<String>,
}

/// Namespaces that feed each other, and the topics on the flows between them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cycle {
    pub namespaces: Vec<String>,
    pub topics: Vec<String>,
}

/// A consumer group seen on the source and the topics it holds committed offsets on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LiveGroup {
    pub group: String,
    pub topics: Vec<String>,
}

/// A live group in the plan: who owns it (none: an unowned reader).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LiveReader {
    pub group: String,
    /// The namespaces (or Strimzi users) owning the group; empty for an unowned reader.
    pub owners: Vec<String>,
    pub topics: Vec<String>,
}

/// The migration order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    pub schema_version: u32,
    /// Every namespace (or Strimzi user), sorted.
    pub namespaces: Vec<String>,
    /// Every topic with its writers and readers, sorted by name; all replicated before the
    /// first move.
    pub topics: Vec<TopicFlow>,
    /// The flow graph, sorted.
    pub edges: Vec<Edge>,
    /// The order of the moves: each wave a sorted list of namespaces that move together.
    pub waves: Vec<Vec<String>>,
    /// Sets of namespaces that feed each other (empty when the order is a strict one).
    pub cycles: Vec<Cycle>,
    /// The source's consumer groups a namespace owns, read as readers of their topics (with
    /// `--source`; else empty).
    pub live_groups: Vec<LiveReader>,
    /// The source's consumer groups no namespace owns: readers the order cannot place.
    pub unowned_readers: Vec<LiveReader>,
}

/// Writers and readers of every topic.
pub fn flows(decls: &Declarations) -> Vec<TopicFlow> {
    flows_with(decls, &BTreeSet::new())
}

/// Writers and readers of every declared topic and of `more` (topics live groups read).
fn flows_with(decls: &Declarations, more: &BTreeSet<String>) -> Vec<TopicFlow> {
    let mut names: BTreeSet<String> = decls.topics.iter().map(|t| t.name.clone()).collect();
    names.extend(more.iter().cloned());
    names.extend(decls.strimzi_topics.iter().map(|t| t.topic_name.clone()));
    names.extend(
        decls
            .acls
            .iter()
            .filter(|a| {
                a.resource_type == ResourceType::Topic
                    && a.pattern == crate::PatternType::Literal
                    && !a.is_public()
            })
            .map(|a| a.resource.clone()),
    );
    for u in &decls.strimzi_users {
        for r in &u.acls {
            if r.resource_type == StrimziResourceType::Topic
                && r.pattern == crate::PatternType::Literal
            {
                if let Some(n) = r.name.as_ref().filter(|n| n.as_str() != "*") {
                    names.insert(n.clone());
                }
            }
        }
    }
    names
        .into_iter()
        .map(|topic| {
            let mut writers = BTreeSet::new();
            let mut readers = BTreeSet::new();
            let mut owned = false;
            for a in decls.acls.iter().filter(|a| !a.is_public()) {
                if !a.covers(ResourceType::Topic, &topic) {
                    continue;
                }
                match a.permission {
                    Permission::Owner => {
                        owned = true;
                        writers.insert(a.granted_to.clone());
                    }
                    Permission::Write => {
                        writers.insert(a.granted_to.clone());
                    }
                    Permission::Read => {
                        readers.insert(a.granted_to.clone());
                    }
                }
            }
            if !owned {
                writers.extend(
                    decls
                        .topics
                        .iter()
                        .filter(|t| t.name == topic)
                        .map(|t| t.namespace.clone()),
                );
            }
            for u in &decls.strimzi_users {
                let rules = u
                    .acls
                    .iter()
                    .filter(|r| r.covers(StrimziResourceType::Topic, &topic));
                for r in rules {
                    if r.allows_any(&[Operation::Write]) {
                        writers.insert(u.name.clone());
                    } else if r.allows_any(&[Operation::Read]) {
                        readers.insert(u.name.clone());
                    }
                }
            }
            TopicFlow {
                topic,
                writers: writers.into_iter().collect(),
                readers: readers.into_iter().collect(),
            }
        })
        .collect()
}

/// The plan of `decls`.
pub fn plan(decls: &Declarations) -> Plan {
    plan_with_groups(decls, &[])
}

/// The plan of `decls` with the source's live consumer groups as readers: each group's owners
/// read the topics it holds committed offsets on; a group without an owner is listed in
/// `unowned_readers` and changes nothing.
pub fn plan_with_groups(decls: &Declarations, live: &[LiveGroup]) -> Plan {
    let mut live_groups = vec![];
    let mut unowned_readers = vec![];
    for g in live {
        let mut topics = g.topics.clone();
        topics.sort();
        topics.dedup();
        let reader = LiveReader {
            group: g.group.clone(),
            owners: crate::ownership::group_owners(decls, &g.group),
            topics,
        };
        if reader.owners.is_empty() {
            unowned_readers.push(reader);
        } else {
            live_groups.push(reader);
        }
    }
    live_groups.sort_by(|a, b| a.group.cmp(&b.group));
    unowned_readers.sort_by(|a, b| a.group.cmp(&b.group));
    let read: BTreeSet<String> = live_groups
        .iter()
        .flat_map(|g| g.topics.iter().cloned())
        .collect();
    let mut topics = flows_with(decls, &read);
    for f in &mut topics {
        let mut readers: BTreeSet<String> = f.readers.iter().cloned().collect();
        for g in live_groups.iter().filter(|g| g.topics.contains(&f.topic)) {
            readers.extend(g.owners.iter().cloned());
        }
        f.readers = readers.into_iter().collect();
    }
    // Nodes: namespaces declared, declaring a resource, or reading or writing a topic (not the
    // one that merely holds the OWNER entries, ns4kafka's `admin`), and Strimzi users.
    let mut namespaces: BTreeSet<String> =
        decls.namespaces.iter().map(|n| n.name.clone()).collect();
    namespaces.extend(decls.topics.iter().map(|t| t.namespace.clone()));
    namespaces.extend(decls.connectors.iter().map(|c| c.namespace.clone()));
    namespaces.extend(decls.schemas.iter().map(|s| s.namespace.clone()));
    namespaces.extend(decls.streams.iter().map(|s| s.namespace.clone()));
    namespaces.extend(decls.strimzi_users.iter().map(|u| u.name.clone()));
    for f in &topics {
        namespaces.extend(f.writers.iter().cloned());
        namespaces.extend(f.readers.iter().cloned());
    }
    let mut edge_topics: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for f in &topics {
        for w in &f.writers {
            for r in f.readers.iter().filter(|r| *r != w) {
                edge_topics
                    .entry((w.clone(), r.clone()))
                    .or_default()
                    .insert(f.topic.clone());
            }
        }
    }
    let edges: Vec<Edge> = edge_topics
        .into_iter()
        .map(|((from, to), topics)| Edge {
            from,
            to,
            topics: topics.into_iter().collect(),
        })
        .collect();
    let (waves, cycles) = order(&namespaces, &edges);
    Plan {
        schema_version: SCHEMA_VERSION,
        namespaces: namespaces.into_iter().collect(),
        topics,
        edges,
        waves,
        cycles,
        live_groups,
        unowned_readers,
    }
}

/// Waves (sinks of the flow first) and the cycles, over the strongly connected components.
fn order(nodes: &BTreeSet<String>, edges: &[Edge]) -> (Vec<Vec<String>>, Vec<Cycle>) {
    let mut next: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for e in edges {
        next.entry(&e.from).or_default().insert(&e.to);
    }
    // Reachability by a search from every node: the graphs are tens of namespaces.
    let reach: BTreeMap<&str, BTreeSet<&str>> = nodes
        .iter()
        .map(|n| {
            let mut seen = BTreeSet::new();
            let mut stack = vec![n.as_str()];
            while let Some(u) = stack.pop() {
                for v in next.get(u).into_iter().flatten() {
                    if seen.insert(*v) {
                        stack.push(v);
                    }
                }
            }
            (n.as_str(), seen)
        })
        .collect();
    // Components: u and v together when each reaches the other.
    let mut component: BTreeMap<&str, usize> = BTreeMap::new();
    let mut members: Vec<Vec<&str>> = vec![];
    for n in nodes {
        if component.contains_key(n.as_str()) {
            continue;
        }
        let id = members.len();
        let mut group = vec![n.as_str()];
        for m in &reach[n.as_str()] {
            if *m != n && reach[m].contains(n.as_str()) {
                group.push(m);
            }
        }
        for m in &group {
            component.insert(m, id);
        }
        members.push(group);
    }
    let mut cycles = vec![];
    for group in members.iter().filter(|g| g.len() > 1) {
        let set: BTreeSet<&str> = group.iter().copied().collect();
        let topics: BTreeSet<String> = edges
            .iter()
            .filter(|e| set.contains(e.from.as_str()) && set.contains(e.to.as_str()))
            .flat_map(|e| e.topics.iter().cloned())
            .collect();
        cycles.push(Cycle {
            namespaces: set.iter().map(|s| s.to_string()).collect(),
            topics: topics.into_iter().collect(),
        });
    }
    // Successor components (downstream readers) of each component.
    let mut after: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); members.len()];
    for e in edges {
        let (a, b) = (component[e.from.as_str()], component[e.to.as_str()]);
        if a != b {
            after[a].insert(b);
        }
    }
    let mut moved: BTreeSet<usize> = BTreeSet::new();
    let mut waves = vec![];
    while moved.len() < members.len() {
        let wave: Vec<usize> = (0..members.len())
            .filter(|c| !moved.contains(c) && after[*c].iter().all(|d| moved.contains(d)))
            .collect();
        if wave.is_empty() {
            break; // unreachable: the component graph has no cycle
        }
        let mut names: Vec<String> = wave
            .iter()
            .flat_map(|c| members[*c].iter().map(|s| s.to_string()))
            .collect();
        names.sort();
        moved.extend(wave);
        waves.push(names);
    }
    cycles.sort_by(|a, b| a.namespaces.cmp(&b.namespaces));
    (waves, cycles)
}

impl Plan {
    /// The JSON of `--format json`.
    pub fn json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// The flow graph as a Mermaid flowchart (data flows writer → reader, labelled with the
    /// topics).
    pub fn mermaid(&self) -> String {
        let id = |name: &str| -> String {
            let clean: String = name
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                .collect();
            format!("n_{clean}")
        };
        let mut out = String::from("flowchart LR\n");
        for n in &self.namespaces {
            out.push_str(&format!("  {}[\"{}\"]\n", id(n), n));
        }
        for e in &self.edges {
            out.push_str(&format!(
                "  {} -->|\"{}\"| {}\n",
                id(&e.from),
                e.topics.join(", "),
                id(&e.to)
            ));
        }
        out
    }

    /// The plan as Markdown: the replication step, the waves, cycles, the graph.
    pub fn markdown(&self) -> String {
        let mut out = String::from("# Migration plan\n\n");
        out.push_str(&format!(
            "{} namespaces, {} topics, one-way replication (source → target). Every topic is \
             replicated before the first move; a namespace moves only after every consumer of \
             the topics it writes has moved (its producers keep writing on the source until \
             then): the last consumer first, the first producer last.\n\n",
            self.namespaces.len(),
            self.topics.len()
        ));
        out.push_str("## Step 0: replicate every topic\n\n| topic | writers | readers |\n| --- | --- | --- |\n");
        for f in &self.topics {
            out.push_str(&format!(
                "| `{}` | {} | {} |\n",
                f.topic,
                names_or_dash(&f.writers),
                names_or_dash(&f.readers)
            ));
        }
        out.push_str("\n## Moves\n\n| wave | namespace | reads | writes | moves after |\n| --- | --- | --- | --- | --- |\n");
        for (i, wave) in self.waves.iter().enumerate() {
            for n in wave {
                let reads: Vec<String> = self
                    .topics
                    .iter()
                    .filter(|f| f.readers.contains(n))
                    .map(|f| format!("`{}`", f.topic))
                    .collect();
                let writes: Vec<String> = self
                    .topics
                    .iter()
                    .filter(|f| f.writers.contains(n))
                    .map(|f| format!("`{}`", f.topic))
                    .collect();
                let waits: BTreeSet<&str> = self
                    .edges
                    .iter()
                    .filter(|e| e.from == *n && !wave.contains(&e.to))
                    .map(|e| e.to.as_str())
                    .collect();
                out.push_str(&format!(
                    "| {} | {} | {} | {} | {} |\n",
                    i + 1,
                    n,
                    dash(&reads.join(", ")),
                    dash(&writes.join(", ")),
                    dash(&waits.into_iter().collect::<Vec<_>>().join(", "))
                ));
            }
        }
        if !self.cycles.is_empty() {
            out.push_str("\n## Cycles\n\n");
            for c in &self.cycles {
                out.push_str(&format!(
                    "- {} feed each other through {}: they move together (one wave), or one of \
                     these topics is replicated back (target → source)\n",
                    c.namespaces.join(", "),
                    c.topics
                        .iter()
                        .map(|t| format!("`{t}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        }
        if !self.live_groups.is_empty() || !self.unowned_readers.is_empty() {
            out.push_str("\n## Live consumer groups (source)\n\n| group | owner | committed offsets on |\n| --- | --- | --- |\n");
            for g in self.live_groups.iter().chain(&self.unowned_readers) {
                out.push_str(&format!(
                    "| `{}` | {} | {} |\n",
                    g.group,
                    if g.owners.is_empty() {
                        "**unowned**".to_string()
                    } else {
                        g.owners.join(", ")
                    },
                    g.topics
                        .iter()
                        .map(|t| format!("`{t}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        }
        if !self.unowned_readers.is_empty() {
            out.push_str(&format!(
                "\nUnowned readers: {} (no OWNER entry of type GROUP, no Strimzi Read rule covers \
                 them): their applications are in no wave; find their teams before the move.\n",
                self.unowned_readers
                    .iter()
                    .map(|g| format!("`{}`", g.group))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        out.push_str("\n## Data flow\n\n```mermaid\n");
        out.push_str(&self.mermaid());
        out.push_str("```\n");
        out
    }
}

fn dash(s: &str) -> &str {
    if s.is_empty() {
        "—"
    } else {
        s
    }
}

fn names_or_dash(names: &[String]) -> String {
    dash(&names.join(", ")).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn decls(yaml: &str) -> Declarations {
        let mut d = Declarations::default();
        d.read_str(yaml, "t.yml", Path::new("."), None)
            .expect("test YAML reads");
        d
    }

    fn acl(ns: &str, resource: &str, pattern: &str, permission: &str, to: &str) -> String {
        format!(
            "---\napiVersion: v1\nkind: AccessControlEntry\nmetadata: {{name: {ns}-{who}-{permission}-{resource}, namespace: {ns}}}\n\
             spec: {{resourceType: TOPIC, resource: {resource}, resourcePatternType: {pattern}, permission: {permission}, grantedTo: \"{to}\"}}\n",
            who = to.replace('*', "public")
        )
    }

    #[test]
    fn consumers_move_before_their_producers() {
        // a writes a.orders, read by b; b writes b.invoices, read by c.
        let y = [
            acl("a", "a.", "PREFIXED", "OWNER", "a"),
            acl("a", "a.orders", "LITERAL", "READ", "b"),
            acl("b", "b.", "PREFIXED", "OWNER", "b"),
            acl("b", "b.invoices", "LITERAL", "READ", "c"),
            acl("c", "c.", "PREFIXED", "OWNER", "c"),
        ]
        .concat();
        let p = plan(&decls(&y));
        assert_eq!(p.waves, vec![vec!["c"], vec!["b"], vec!["a"]]);
        assert!(p.cycles.is_empty());
        assert_eq!(p.edges.len(), 2);
    }

    #[test]
    fn a_cycle_is_one_wave_with_the_topics_that_close_it() {
        let y = [
            acl("a", "a.x", "LITERAL", "OWNER", "a"),
            acl("a", "a.x", "LITERAL", "READ", "b"),
            acl("b", "b.y", "LITERAL", "OWNER", "b"),
            acl("b", "b.y", "LITERAL", "READ", "a"),
            acl("b", "b.y", "LITERAL", "READ", "c"),
        ]
        .concat();
        let p = plan(&decls(&y));
        assert_eq!(p.waves, vec![vec!["c"], vec!["a", "b"]]);
        assert_eq!(
            p.cycles,
            vec![Cycle {
                namespaces: vec!["a".into(), "b".into()],
                topics: vec!["a.x".into(), "b.y".into()],
            }]
        );
    }

    fn group_owner(ns: &str, prefix: &str) -> String {
        format!(
            "---\napiVersion: v1\nkind: AccessControlEntry\nmetadata: {{name: {ns}-group, namespace: admin}}\n\
             spec: {{resourceType: GROUP, resource: {prefix}, resourcePatternType: PREFIXED, permission: OWNER, grantedTo: {ns}}}\n"
        )
    }

    #[test]
    fn a_live_group_reads_for_its_owner_and_an_unowned_one_is_listed_apart() {
        let topic = |ns: &str, name: &str| {
            format!(
                "---\napiVersion: v1\nkind: Topic\nmetadata: {{name: {name}, namespace: {ns}}}\nspec: {{partitions: 1, replicationFactor: 1}}\n"
            )
        };
        // a and b write their own topics; nobody reads: one wave.
        let y = [
            acl("admin", "a.", "PREFIXED", "OWNER", "a"),
            acl("admin", "b.", "PREFIXED", "OWNER", "b"),
            group_owner("b", "b."),
            topic("a", "a.orders"),
            topic("b", "b.x"),
        ]
        .concat();
        let d = decls(&y);
        assert_eq!(plan(&d).waves, vec![vec!["a", "b"]]);
        let live = [
            LiveGroup {
                group: "b.reporting".into(),
                topics: vec!["a.orders".into(), "a.undeclared".into()],
            },
            LiveGroup {
                group: "legacy".into(),
                topics: vec!["b.x".into()],
            },
        ];
        let p = plan_with_groups(&d, &live);
        // b's group reads a's topics: b moves first, a after it.
        assert_eq!(p.waves, vec![vec!["b"], vec!["a"]]);
        let flow = |name: &str| {
            let f = p.topics.iter().find(|t| t.topic == name).expect(name);
            (f.writers.clone(), f.readers.clone())
        };
        assert_eq!(
            flow("a.orders"),
            (vec!["a".to_string()], vec!["b".to_string()])
        );
        // A topic only the group names is placed too, written by a through its prefix.
        assert_eq!(
            flow("a.undeclared"),
            (vec!["a".to_string()], vec!["b".to_string()])
        );
        assert_eq!(p.live_groups.len(), 1);
        assert_eq!(p.live_groups[0].owners, vec!["b"]);
        assert_eq!(
            p.unowned_readers,
            vec![LiveReader {
                group: "legacy".into(),
                owners: vec![],
                topics: vec!["b.x".into()],
            }]
        );
        // The unowned reader reads for nobody.
        assert_eq!(flow("b.x"), (vec!["b".to_string()], vec![]));
        let md = p.markdown();
        assert!(md.contains("| `legacy` | **unowned** | `b.x` |"), "{md}");
        assert!(
            md.contains("| `b.reporting` | b | `a.orders`, `a.undeclared` |"),
            "{md}"
        );
        assert!(md.contains("Unowned readers: `legacy`"), "{md}");
        // Without live groups the Markdown has no such section.
        assert!(!plan(&d).markdown().contains("Live consumer groups"));
    }

    #[test]
    fn public_grants_are_not_readers_and_undeclared_owners_fall_back_to_the_declarer() {
        let y = format!(
            "{}---\napiVersion: v1\nkind: Topic\nmetadata: {{name: t1, namespace: a}}\nspec: {{partitions: 1, replicationFactor: 1}}\n",
            acl("a", "t1", "LITERAL", "READ", "*")
        );
        let p = plan(&decls(&y));
        assert_eq!(
            p.topics,
            vec![TopicFlow {
                topic: "t1".into(),
                writers: vec!["a".into()],
                readers: vec![],
            }]
        );
        assert_eq!(p.waves, vec![vec!["a"]]);
    }
}
