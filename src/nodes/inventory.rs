//! The keystone nodes of a stack, read from its tripleo-ansible inventory (YAML).
//!
//! Shape (tripleo-common `inventory.py`, OSP 16.2/17): role groups (`Controller: {hosts:
//! {ctl-0: {ansible_host: ...}}, vars: {ansible_ssh_user: tripleo-admin}}`) and service
//! groups whose `children` are the roles running the service (`keystone: {children:
//! {Controller: {}}}`); any group may sit under `all: {children: ...}`. Variables follow
//! Ansible's precedence: `all` < parent groups < child groups (by depth, then name) < host.
//! Pure: text in, nodes out; a host the inventory cannot describe becomes a node with a
//! `problem`, so the others are still checked.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_yaml_ng::{Mapping, Value};

use super::error::NodeError;

/// The service group `verify` looks for when no `--role` is given.
pub(crate) const KEYSTONE_GROUP: &str = "keystone";
/// Deepest group nesting followed (a cycle or a runaway inventory stops here).
const MAX_DEPTH: usize = 32;

/// `~/overcloud-deploy/<stack>/tripleo-ansible-inventory.yaml` (OSP 17).
pub fn default_path(home: &Path, stack: &str) -> PathBuf {
    home.join("overcloud-deploy")
        .join(stack)
        .join("tripleo-ansible-inventory.yaml")
}

/// How to reach one node, as Ansible would.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Node {
    /// Inventory host name (what reports call the node).
    pub name: String,
    /// `ansible_host`.
    pub host: Option<String>,
    /// `ansible_port`.
    pub port: Option<u16>,
    /// `ansible_user` (or the older `ansible_ssh_user`).
    pub user: Option<String>,
    /// `ansible_ssh_private_key_file`.
    pub key_file: Option<PathBuf>,
    /// `ansible_ssh_common_args`, split like a shell would.
    pub common_args: Vec<String>,
    /// Why this host cannot be reached as described (missing `ansible_host`, bad port...).
    pub problem: Option<String>,
}

impl Node {
    /// Root needs no `sudo -n`; anyone else becomes root the way Ansible's become does.
    pub(crate) fn needs_sudo(&self) -> bool {
        self.user.as_deref() != Some("root")
    }
}

#[derive(Debug, Default)]
struct Group {
    hosts: BTreeMap<String, Mapping>,
    vars: Mapping,
    children: BTreeSet<String>,
}

/// Every group of an inventory, flattened (a group defined twice is merged).
#[derive(Debug, Default)]
pub struct Inventory {
    groups: BTreeMap<String, Group>,
}

impl Inventory {
    /// Parses an Ansible YAML inventory (`path` names it in errors).
    pub fn parse(text: &str, path: &Path) -> Result<Self, NodeError> {
        let bad = |message: String| NodeError::Inventory {
            path: path.to_path_buf(),
            message,
        };
        let doc: Value =
            serde_yaml_ng::from_str(text).map_err(|e| bad(format!("not YAML: {e}")))?;
        let Value::Mapping(top) = doc else {
            return Err(bad(
                "not a YAML inventory (expected a mapping of groups)".into()
            ));
        };
        let mut inv = Inventory::default();
        for (name, body) in &top {
            let name = name_of(name).ok_or_else(|| bad("a group name is not a string".into()))?;
            inv.add_group(&name, body, 0).map_err(bad)?;
        }
        Ok(inv)
    }

    fn add_group(&mut self, name: &str, body: &Value, depth: usize) -> Result<(), String> {
        if depth > MAX_DEPTH {
            return Err(format!("groups nested deeper than {MAX_DEPTH} at {name}"));
        }
        self.groups.entry(name.to_string()).or_default();
        let body = match body {
            Value::Null => return Ok(()),
            Value::Mapping(m) => m,
            _ => return Err(format!("group {name} is not a mapping")),
        };
        for (key, value) in body {
            match key.as_str() {
                Some("hosts") => self.add_hosts(name, value)?,
                Some("vars") => {
                    let vars = as_mapping(value).ok_or(format!("{name}.vars is not a mapping"))?;
                    let group = self.groups.entry(name.to_string()).or_default();
                    group.vars.extend(vars.clone());
                }
                Some("children") => {
                    let children =
                        as_mapping(value).ok_or(format!("{name}.children is not a mapping"))?;
                    for (child, child_body) in &children {
                        let child =
                            name_of(child).ok_or(format!("a child of {name} has no name"))?;
                        self.groups
                            .entry(name.to_string())
                            .or_default()
                            .children
                            .insert(child.clone());
                        self.add_group(&child, child_body, depth + 1)?;
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn add_hosts(&mut self, group: &str, value: &Value) -> Result<(), String> {
        let hosts = as_mapping(value).ok_or(format!("{group}.hosts is not a mapping"))?;
        for (host, vars) in &hosts {
            let host = name_of(host).ok_or(format!("a host of {group} has no name"))?;
            let vars = as_mapping(vars)
                .ok_or(format!("host {host} in {group}: vars are not a mapping"))?;
            let entry = self.groups.entry(group.to_string()).or_default();
            entry.hosts.entry(host).or_default().extend(vars);
        }
        Ok(())
    }

    /// The nodes of `groups` (through their children), sorted by name.
    pub fn nodes(&self, groups: &[String], path: &Path) -> Result<Vec<Node>, NodeError> {
        let mut names = BTreeSet::new();
        for group in groups {
            names.extend(self.hosts_of(group));
        }
        if names.is_empty() {
            return Err(NodeError::NoHosts {
                path: path.to_path_buf(),
                groups: groups.join(", "),
            });
        }
        Ok(names.iter().map(|name| self.node(name)).collect())
    }

    /// The hosts of `group` and of its children, each group visited once (cycles end).
    fn hosts_of(&self, group: &str) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let mut seen = BTreeSet::new();
        let mut todo = vec![group];
        while let Some(name) = todo.pop() {
            if !seen.insert(name) {
                continue;
            }
            if let Some(g) = self.groups.get(name) {
                out.extend(g.hosts.keys().cloned());
                todo.extend(g.children.iter().map(String::as_str));
            }
        }
        out
    }

    /// Depth of each group below `all` (top-level groups are 1; the deepest path wins).
    fn depths(&self) -> BTreeMap<&str, usize> {
        let mut depth: BTreeMap<&str, usize> =
            self.groups.keys().map(|g| (g.as_str(), 1)).collect();
        depth.insert("all", 0);
        for _ in 0..MAX_DEPTH {
            let mut changed = false;
            for (name, group) in &self.groups {
                let d = depth[name.as_str()];
                for child in &group.children {
                    if let Some(cd) = depth.get_mut(child.as_str())
                        && *cd < d + 1
                    {
                        *cd = d + 1;
                        changed = true;
                    }
                }
            }
            if !changed {
                break;
            }
        }
        depth
    }

    /// One host's variables, by Ansible's precedence, turned into how to reach it.
    fn node(&self, name: &str) -> Node {
        let depths = self.depths();
        let mut member: Vec<(&usize, &str)> = self
            .groups
            .keys()
            .filter(|g| g.as_str() == "all" || self.hosts_of(g).contains(name))
            .map(|g| (&depths[g.as_str()], g.as_str()))
            .collect();
        member.sort();
        let mut vars = Mapping::new();
        for (_, group) in &member {
            vars.extend(self.groups[*group].vars.clone());
        }
        for (_, group) in &member {
            if let Some(host_vars) = self.groups[*group].hosts.get(name) {
                vars.extend(host_vars.clone());
            }
        }
        node_from_vars(name, &vars)
    }
}

fn node_from_vars(name: &str, vars: &Mapping) -> Node {
    let text = |key: &str| vars.get(key).and_then(scalar_text);
    let mut problems = vec![];
    let host = text("ansible_host");
    if host.is_none() {
        problems.push("no ansible_host in the inventory".to_string());
    }
    let port = text("ansible_port").and_then(|p| match p.parse::<u16>() {
        Ok(p) if p > 0 => Some(p),
        _ => {
            problems.push(format!("ansible_port {p:?} is not a TCP port"));
            None
        }
    });
    let common_args = match text("ansible_ssh_common_args") {
        None => vec![],
        Some(args) => shlex::split(&args).unwrap_or_else(|| {
            problems.push(format!(
                "ansible_ssh_common_args {args:?} has unbalanced quotes"
            ));
            vec![]
        }),
    };
    Node {
        name: name.to_string(),
        host,
        port,
        user: text("ansible_user").or_else(|| text("ansible_ssh_user")),
        key_file: text("ansible_ssh_private_key_file").map(PathBuf::from),
        common_args,
        problem: (!problems.is_empty()).then(|| problems.join("; ")),
    }
}

fn name_of(v: &Value) -> Option<String> {
    scalar_text(v)
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn as_mapping(v: &Value) -> Option<Mapping> {
    match v {
        Value::Null => Some(Mapping::new()),
        Value::Mapping(m) => Some(m.clone()),
        _ => None,
    }
}

/// Reads `path` and returns the nodes of `groups` (default: the keystone service group).
pub fn load(path: &Path, roles: &[String]) -> Result<Vec<Node>, NodeError> {
    let text = crate::fsutil::read_text(path).map_err(|e| NodeError::Inventory {
        path: path.to_path_buf(),
        message: format!("cannot read: {e}"),
    })?;
    let groups = if roles.is_empty() {
        vec![KEYSTONE_GROUP.to_string()]
    } else {
        roles.to_vec()
    };
    Inventory::parse(&text, path)?.nodes(&groups, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRIPLEO: &str = r#"
Undercloud:
  hosts:
    undercloud: {ansible_host: localhost, ansible_connection: local}
Controller:
  hosts:
    overcloud-controller-0: {ansible_host: 192.168.24.10}
    overcloud-controller-1: {ansible_host: 192.168.24.11, ansible_port: 2222, ansible_user: root}
  vars:
    ansible_ssh_user: tripleo-admin
    ansible_ssh_private_key_file: /home/stack/.ssh/id_rsa
Compute:
  hosts:
    overcloud-novacompute-0: {ansible_host: 192.168.24.20}
overcloud:
  children:
    Controller: {}
    Compute: {}
  vars:
    ansible_ssh_common_args: "-o StrictHostKeyChecking=yes -o 'UserKnownHostsFile=/tmp/known hosts'"
keystone:
  children:
    Controller: {}
"#;

    fn nodes(text: &str, roles: &[&str]) -> Result<Vec<Node>, NodeError> {
        let roles: Vec<String> = roles.iter().map(|r| r.to_string()).collect();
        let groups = if roles.is_empty() {
            vec![KEYSTONE_GROUP.into()]
        } else {
            roles
        };
        Inventory::parse(text, Path::new("inv.yaml"))?.nodes(&groups, Path::new("inv.yaml"))
    }

    #[test]
    fn keystone_group_reaches_controllers_with_precedence() {
        let n = nodes(TRIPLEO, &[]).unwrap();
        assert_eq!(n.len(), 2);
        assert_eq!(n[0].name, "overcloud-controller-0");
        assert_eq!(n[0].host.as_deref(), Some("192.168.24.10"));
        assert_eq!(n[0].user.as_deref(), Some("tripleo-admin"));
        assert!(n[0].needs_sudo());
        assert_eq!(
            n[0].key_file,
            Some(PathBuf::from("/home/stack/.ssh/id_rsa"))
        );
        assert_eq!(
            n[0].common_args,
            [
                "-o",
                "StrictHostKeyChecking=yes",
                "-o",
                "UserKnownHostsFile=/tmp/known hosts"
            ]
        );
        assert_eq!(n[1].port, Some(2222));
        assert_eq!(n[1].user.as_deref(), Some("root"));
        assert!(!n[1].needs_sudo());
        assert!(n.iter().all(|n| n.problem.is_none()));
    }

    #[test]
    fn role_selects_other_groups() {
        let n = nodes(TRIPLEO, &["Compute"]).unwrap();
        assert_eq!(n.len(), 1);
        assert_eq!(n[0].name, "overcloud-novacompute-0");
    }

    #[test]
    fn all_children_and_child_vars_win_over_all_vars() {
        let text = "all:\n  vars: {ansible_user: a}\n  children:\n    Controller:\n      hosts: {c0: {ansible_host: h}}\n      vars: {ansible_user: b}\n    keystone:\n      children: {Controller: }\n";
        let n = nodes(text, &[]).unwrap();
        assert_eq!(n[0].user.as_deref(), Some("b"));
    }

    #[test]
    fn bad_inventories_are_named_errors() {
        for text in [
            "- a\n- b\n",
            "keystone: 3\n",
            "a: [",
            "keystone:\n  hosts: [x]\n",
        ] {
            let err = nodes(text, &[]).unwrap_err();
            assert!(err.to_string().contains("inv.yaml"), "{err}");
        }
        let err = nodes("Controller:\n  hosts: {c0: {ansible_host: h}}\n", &[]).unwrap_err();
        assert!(matches!(err, NodeError::NoHosts { .. }), "{err}");
    }

    #[test]
    fn a_host_without_address_or_with_a_bad_port_has_a_problem() {
        let text = "keystone:\n  hosts:\n    c0: {}\n    c1: {ansible_host: h, ansible_port: 99999}\n    c2: {ansible_host: h, ansible_ssh_common_args: \"-o 'x\"}\n";
        let n = nodes(text, &[]).unwrap();
        assert!(n[0].problem.as_deref().unwrap().contains("ansible_host"));
        assert!(n[1].problem.as_deref().unwrap().contains("ansible_port"));
        assert!(n[2].problem.as_deref().unwrap().contains("quotes"));
    }

    #[test]
    fn a_cycle_does_not_hang() {
        let text = "keystone:\n  children: {a: }\na:\n  children: {keystone: }\n  hosts: {c0: {ansible_host: h}}\n";
        assert_eq!(nodes(text, &[]).unwrap().len(), 1);
    }
}
