//! The load-balancer part of the cutover runbook: draining a keystone node from the
//! haproxy that TripleO runs on its controllers, checking the drain and re-adding the node.
//!
//! Facts, read from the sources (puppet-tripleo and tripleo-common `stable/wallaby`,
//! tripleo-heat-templates `master` of 2021 and `stable/train`):
//! - haproxy runs as the pacemaker bundle `haproxy-bundle`, one replica per controller
//!   (`replicas => $haproxy_nodes_count`), with the VIPs colocated with it:
//!   puppet-tripleo `manifests/profile/pacemaker/haproxy_bundle.pp`; THT
//!   `deployment/haproxy/haproxy-pacemaker-puppet.yaml` (`tripleo_ha_wrapper_bundle_name:
//!   haproxy-bundle`). Its containers are named `haproxy-bundle-podman-N` (`-docker-N` on
//!   docker), N not tied to the node's index, hence `podman ps --filter name=haproxy-bundle`.
//! - The admin socket: `stats socket /var/lib/haproxy/stats mode 600 level
//!   ${haproxy_socket_access_level}`, level `user` by default (puppet-tripleo
//!   `manifests/haproxy.pp`, `tripleo::haproxy::haproxy_socket_access_level`, "user" or
//!   "admin"). `set server ... state` and `disable server` need level `admin` (haproxy's
//!   management guide; the Ansible `community.general.haproxy` module notes the same), so the
//!   default socket refuses them. `/var/lib/haproxy` is bind-mounted from the host
//!   (storage map `haproxy-var-lib` in `haproxy_bundle.pp`; THT's upgrade tasks "Expose
//!   HAProxy stats socket on the host" add it on train too).
//! - `socat` is in every TripleO container image (tripleo-common
//!   `container-images/tcib/base/base.yaml`).
//! - keystone's backends are `keystone_public` and `keystone_admin` (both balance to the
//!   same keystone on port 5000), with `option httpchk GET /healthcheck`; with
//!   `haproxy_backend_syntax` they are `keystone_public_be` / `keystone_admin_be`
//!   (puppet-tripleo `manifests/haproxy.pp`, `manifests/haproxy/endpoint.pp`). Server names
//!   come from `keystone_public_api_node_names` (the nodes' host names on keystone's network).
//! - TripleO configures no `server-state-file`: runtime server states live in the haproxy
//!   process only.
//! - The stack's Ansible inventory has a `haproxy` service group (tripleo-common
//!   `tripleo_common/inventory.py`: one group per service name, THT `service_name: haproxy`).

/// The admin socket inside the haproxy-bundle container (and on the host).
pub(crate) const SOCKET: &str = "/var/lib/haproxy/stats";

/// keystone's haproxy backends.
pub(crate) const BACKENDS: [&str; 2] = ["keystone_public", "keystone_admin"];

/// The command, run on a controller, that pipes stdin into that controller's haproxy.
const HAP: &str = "hap() { sudo podman exec -i $(sudo podman ps -q --filter name=haproxy-bundle) socat stdio /var/lib/haproxy/stats; }";

/// `set server <backend>/<server> state <state>` for every keystone backend, `;`-joined.
pub(crate) fn set_state(server: &str, state: &str) -> String {
    BACKENDS
        .iter()
        .map(|b| format!("set server {b}/{server} state {state}"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// `echo "<commands>" | hap`: the commands for one controller's haproxy.
pub(crate) fn on_one(commands: &str) -> String {
    format!("`echo \"{commands}\" | hap`")
}

/// The same commands on every controller's haproxy at once, from the undercloud.
pub(crate) fn on_every(stack: &str, commands: &str) -> String {
    format!(
        "`ansible -i ~/overcloud-deploy/{stack}/tripleo-ansible-inventory.yaml haproxy -b -m shell -a 'echo \"{commands}\" | podman exec -i $(podman ps -q --filter name=haproxy-bundle) socat stdio {SOCKET}'`"
    )
}

/// The check that shows each keystone server's current sessions and state.
pub fn show() -> String {
    "`echo \"show stat\" | hap | cut -d, -f1,2,5,18 | grep -E '^keystone_(public|admin)(_be)?,'`"
        .into()
}

/// What a runtime drain does not survive.
pub(crate) fn volatile() -> String {
    format!(
        "A runtime `set server ... state drain` (like `disable server`) changes only the running haproxy process: TripleO configures no server-state file, so it is lost when haproxy restarts (`pcs resource restart haproxy-bundle`, pacemaker recovering the bundle, a controller reboot, and any deploy that changes haproxy's configuration: a redeploy restarts haproxy, and so can each `--limit` run on a controller) and the node silently returns to the pool as `UP`. Each controller runs its own haproxy instance and pacemaker keeps each VIP on one of them: when a VIP fails over (pacemaker moves it to another controller), that controller's haproxy answers with its own state. So drain on every controller's haproxy, not only where the VIP is now (`sudo pcs status | grep ip-` shows where), and re-check {} on every controller after any failover, restart or deploy run: a drained node that came back is a mixed pool.",
        show()
    )
}

/// The runbook's "Load balancer" section.
pub fn section(stack: &str) -> Vec<String> {
    vec![
        format!(
            "TripleO runs keystone's load balancer as the pacemaker bundle `haproxy-bundle`: one containerized haproxy per controller, the VIPs on one of them at a time. Its admin socket is `{SOCKET}` inside the container (bind-mounted from the host). On each controller define `{HAP}` (or use `sudo socat stdio {SOCKET}` where the host has socat)."
        ),
        format!(
            "keystone's backends are `{}` and `{}` (`_be` suffixed when `haproxy_backend_syntax` is set; where `show stat` lists no `keystone_admin`, drop its command). SERVER below is the node's server name there, as {} lists it (the node's host name on keystone's network, e.g. `overcloud-controller-0.internalapi.localdomain`).",
            BACKENDS[0],
            BACKENDS[1],
            show()
        ),
        format!(
            "The socket must have level admin: `sudo grep 'stats socket' /var/lib/config-data/puppet-generated/haproxy/etc/haproxy/haproxy.cfg` shows TripleO's default `level user`, which refuses every `set server` with \"Permission denied\". Set `tripleo::haproxy::haproxy_socket_access_level: admin` in the `<Role>ExtraConfig` of the controllers (an environment file of yours, passed before the flip environment on every deploy) and deploy it before phase 1: that deploy changes haproxy's configuration, so haproxy restarts on every controller (schedule it). With an external load balancer instead, do the drain, check and re-add below with its tools."
        ),
        format!(
            "Drain SERVER: {} on every controller, or from the undercloud with OSP 17's inventory (on 16.2 point `-i` at the stack's inventory) {}.",
            on_one(&set_state("SERVER", "drain")),
            on_every(stack, &set_state("SERVER", "drain"))
        ),
        format!(
            "Check the drain on every controller: {} shows SERVER `DRAIN` with 0 current sessions (the third column) on each backend; keep-alive clients can hold sessions for a while: wait for 0 before flipping.",
            show()
        ),
        format!(
            "Re-add SERVER: {} on every controller (or the undercloud command with `state ready`); {} shows it `UP` again.",
            on_one(&set_state("SERVER", "ready")),
            show()
        ),
        volatile(),
    ]
}

/// Phase 1's drain step.
pub(crate) fn drain_step() -> String {
    format!(
        "Drain the node from keystone's backends on every controller's haproxy: {} (see Load balancer), then check it with {} until it shows `DRAIN` and 0 sessions on every controller. Never flip a node that is still in the pool.",
        on_one(&set_state("SERVER", "drain")),
        show()
    )
}

/// Phase 2's pool swap: group A in, group B out, on every haproxy.
pub(crate) fn swap_step(stack: &str) -> String {
    let commands = format!(
        "{}; {}",
        set_state("A_SERVER", "ready"),
        set_state("B_SERVER", "drain")
    );
    format!(
        "In one command per haproxy, on every controller at once, put every group A node back into the pool and drain every group B node (repeat the `set server` pair for each node of the group): {}. Then check {} on every controller: group A `UP`, group B `DRAIN`.",
        on_every(stack, &commands),
        show()
    )
}

/// Phase 3's re-add step.
pub(crate) fn ready_step() -> String {
    format!(
        "On every controller's haproxy: {}; {} shows it `UP` on each.",
        on_one(&set_state("SERVER", "ready")),
        show()
    )
}

/// The reminder after each `--limit` run.
pub(crate) fn recheck_step() -> String {
    format!(
        "After the run, re-check {} on every controller: if that run (or a VIP failover) restarted haproxy somewhere, the node went back into the pool there: drain it again at once.",
        show()
    )
}
