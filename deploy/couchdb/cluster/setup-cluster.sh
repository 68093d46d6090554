#!/usr/bin/env bash
# Join CouchDB nodes into one cluster with the _cluster_setup API.
#
# Safe to re-run: it reads the coordinator's _membership first and only adds
# the nodes that are not cluster members yet; on a formed cluster it changes
# nothing. Run it when the nodes are first started and after adding a node to
# CLUSTER_NODES.
#
# Environment:
#   COUCHDB_USER, COUCHDB_PASSWORD  server admin, the same on every node
#   CLUSTER_NODES   space-separated node host names; the first one coordinates.
#                   Each node's Erlang name must be couchdb@<host> (NODENAME).
#   COUCHDB_PORT    default 5984
#   WAIT_SECONDS    how long to wait for every node to answer, default 300
set -euo pipefail

: "${COUCHDB_USER:?set COUCHDB_USER}"
: "${COUCHDB_PASSWORD:?set COUCHDB_PASSWORD}"
: "${CLUSTER_NODES:?set CLUSTER_NODES (space-separated host names)}"
port="${COUCHDB_PORT:-5984}"
wait_seconds="${WAIT_SECONDS:-300}"

read -r -a nodes <<<"${CLUSTER_NODES}"
coordinator="${nodes[0]}"
node_count="${#nodes[@]}"

log() { printf 'setup-cluster: %s\n' "$*" >&2; }

# JSON string literal for a shell value (escapes backslash and double quote).
json_string() {
    local value="${1//\\/\\\\}"
    printf '"%s"' "${value//\"/\\\"}"
}

couch() {
    # couch METHOD HOST PATH [JSON-BODY]; prints the body, fails on HTTP >= 400.
    local method="$1" host="$2" path="$3" body="${4-}"
    local args=(--silent --show-error --fail-with-body --max-time 30
                --user "${COUCHDB_USER}:${COUCHDB_PASSWORD}"
                --request "${method}" --header 'Content-Type: application/json')
    if [[ -n "${body}" ]]; then
        args+=(--data "${body}")
    fi
    curl "${args[@]}" "http://${host}:${port}${path}"
}

wait_for_node() {
    local host="$1" deadline=$((SECONDS + wait_seconds))
    until curl --silent --fail --max-time 5 "http://${host}:${port}/_up" >/dev/null; do
        if ((SECONDS >= deadline)); then
            log "node ${host} did not answer /_up within ${wait_seconds}s"
            return 1
        fi
        sleep 2
    done
}

# Node names listed under "cluster_nodes" in a _membership answer.
cluster_members() {
    couch GET "${coordinator}" /_membership |
        sed -n 's/.*"cluster_nodes":\[\([^]]*\)\].*/\1/p' |
        tr -d '"' | tr ',' '\n'
}

is_member() {
    local name="couchdb@$1"
    grep -qxF "${name}" <<<"${members}"
}

setup_state() {
    couch GET "$1" /_cluster_setup | sed -n 's/.*"state":"\([^"]*\)".*/\1/p'
}

# The worker discovers changed school databases with _db_updates, which reads the
# _global_changes database. CouchDB 3.4's finish_cluster creates only _users and
# _replicator unless told otherwise (a single node creates all three), and without
# _global_changes the worker falls back to polling every database. Idempotent.
ensure_global_changes() {
    if ! curl --silent --fail --max-time 30 --output /dev/null \
        --user "${COUCHDB_USER}:${COUCHDB_PASSWORD}" "http://${coordinator}:${port}/_global_changes"; then
        log "creating _global_changes (for _db_updates)"
        couch PUT "${coordinator}" /_global_changes >/dev/null
    fi
}

for host in "${nodes[@]}"; do
    wait_for_node "${host}"
done

members="$(cluster_members)"
missing=()
for host in "${nodes[@]}"; do
    is_member "${host}" || missing+=("${host}")
done

if ((${#missing[@]} == 0)) && [[ "$(setup_state "${coordinator}")" == "cluster_finished" ]]; then
    ensure_global_changes
    log "all ${node_count} nodes are cluster members; nothing else to do"
    exit 0
fi

user_json="$(json_string "${COUCHDB_USER}")"
password_json="$(json_string "${COUCHDB_PASSWORD}")"

if [[ "$(setup_state "${coordinator}")" == "cluster_disabled" ]]; then
    log "enabling cluster mode on ${coordinator}"
    couch POST "${coordinator}" /_cluster_setup \
        "{\"action\":\"enable_cluster\",\"bind_address\":\"0.0.0.0\",\"username\":${user_json},\"password\":${password_json},\"node_count\":${node_count}}" >/dev/null
fi

for host in "${missing[@]}"; do
    [[ "${host}" == "${coordinator}" ]] && continue
    log "adding ${host}"
    if [[ "$(setup_state "${host}")" == "cluster_disabled" ]]; then
        couch POST "${coordinator}" /_cluster_setup \
            "{\"action\":\"enable_cluster\",\"bind_address\":\"0.0.0.0\",\"username\":${user_json},\"password\":${password_json},\"port\":${port},\"node_count\":${node_count},\"remote_node\":\"${host}\",\"remote_current_user\":${user_json},\"remote_current_password\":${password_json}}" >/dev/null
    fi
    couch POST "${coordinator}" /_cluster_setup \
        "{\"action\":\"add_node\",\"host\":\"${host}\",\"port\":${port},\"username\":${user_json},\"password\":${password_json}}" >/dev/null
done

if [[ "$(setup_state "${coordinator}")" != "cluster_finished" ]]; then
    log "finishing cluster setup (creates _users, _replicator, _global_changes)"
    couch POST "${coordinator}" /_cluster_setup \
        '{"action":"finish_cluster","ensure_dbs_exist":["_users","_replicator","_global_changes"]}' >/dev/null
fi
ensure_global_changes

members="$(cluster_members)"
for host in "${nodes[@]}"; do
    if ! is_member "${host}"; then
        log "node ${host} is still not a cluster member; see its log"
        exit 1
    fi
done
log "cluster of ${node_count} nodes ready: $(tr '\n' ' ' <<<"${members}")"
