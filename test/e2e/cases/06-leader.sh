# Case 6: two Ember replicas with leader election on the real Lease API. One writes; SIGKILL it
# and the other takes over within leaseDuration + 2 x retryPeriod (15s + 2 x 2s in this run); no request
# is lost and no request UID is signed twice (both replicas' audit logs together, and the API
# server's audit log).
. "$(dirname "$0")/common.sh"

NS=ha
N1=12
N2=18
LEASE_S=15
RETRY_S=2
ember_stop ember-0
trap 'ember_stop ember-a; ember_stop ember-b; ember_start ember-0 ember-issuer ember-issuer >/dev/null' EXIT
check "replica ember-a starts" ember_start ember-a ember-issuer ember-issuer
check "replica ember-b starts" ember_start ember-b ember-issuer ember-issuer
leader_metric() { curl -fs "$(cat "$E2E_DIR/$1.metrics")/metrics" 2>/dev/null | awk '$1 == "ember_leader" {print $2}'; }
_one_leader() { [ "$(leader_metric ember-a)$(leader_metric ember-b)" = 10 ] || [ "$(leader_metric ember-a)$(leader_metric ember-b)" = 01 ]; }
check "exactly one of the two leads (ember_leader 1 and 0)" e2e_wait 40 _one_leader
if [ "$(leader_metric ember-a)" = 1 ]; then leader=ember-a; other=ember-b; else leader=ember-b; other=ember-a; fi
holder=$(kc -n ember-issuer get lease ember-issuer-leader -o jsonpath='{.spec.holderIdentity}')
check "the Lease ember-issuer/ember-issuer-leader names the leader ($holder)" \
  grep -qF "$holder acquired the Lease" "$E2E_DIR/$leader.log"

ca_issuer $NS local-ca ha-apps || not_ok "the Issuer $NS/local-ca is created"
dns_policy ha-apps $NS '[a-z0-9]+\.ha\.svc' || not_ok "the IssuancePolicy ha-apps applies"
check "the Issuer $NS/local-ca becomes Ready" wait_cond 30 issuers.ember.issuer.dev $NS local-ca Ready True
make_csr "$CASE_DIR/r" -subj "/CN=r.ha.svc" -addext "subjectAltName=DNS:r.ha.svc"
create_crs() { # FROM TO
  local i
  for i in $(seq "$1" "$2"); do
    cr_json "r$i" $NS "$CASE_DIR/r.csr" Issuer local-ca >"$CASE_DIR/r$i.json"
    kc create -f "$CASE_DIR/r$i.json" >/dev/null || echo "# create r$i failed"
  done
}
create_crs 1 $N1
# The Lease's last renewal as the leader wrote it, read just before the kill: the real last
# renewal can only be later, so acquireTime(new leader) - this is an upper bound of the takeover.
renewed=$(kc -n ember-issuer get lease ember-issuer-leader -o jsonpath='{.spec.renewTime}')
kill -KILL "$(e2e_pid "$leader")"
create_crs $((N1 + 1)) $((N1 + N2))
_took_over() { [ "$(leader_metric "$other")" = 1 ]; }
check "after SIGKILL of the leader, $other leads (ember_leader 1)" e2e_wait 60 _took_over
acquired=$(kc -n ember-issuer get lease ember-issuer-leader -o jsonpath='{.spec.acquireTime}')
took=$(python3 -c '
import sys
from datetime import datetime
f = lambda t: datetime.strptime(t.replace("Z", "+0000"), "%Y-%m-%dT%H:%M:%S.%f%z")
print("%.1f" % (f(sys.argv[2]) - f(sys.argv[1])).total_seconds())' "$renewed" "$acquired" 2>/dev/null || echo 999)
# As client-go's, Ember's follower counts leaseDuration from when it saw the last renewal (no
# trust in another replica's clock), and it looks every retryPeriod: it may see a renewal up to
# one retryPeriod late and act up to one after expiry, so leaseDuration + 2 x retryPeriod.
check "... it acquired the Lease within leaseDuration + 2 x retryPeriod of the last renewal ($took s <= $((LEASE_S + 2 * RETRY_S)) s; renewTime $renewed, acquireTime $acquired)" \
  python3 -c "import sys; sys.exit(0 if $took <= $LEASE_S + 2 * $RETRY_S else 1)"
_all_ready() {
  [ "$(kc -n $NS get certificaterequests -l e2e=yes -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' | grep -c '^True$')" = $((N1 + N2)) ]
}
check "all $((N1 + N2)) requests made before and after the kill are issued" e2e_wait 90 _all_ready

kc -n $NS get certificaterequests -l e2e=yes -o jsonpath='{range .items[*]}{.metadata.uid}{"\n"}{end}' | sort -u >"$CASE_DIR/uids"
cat "$E2E_DIR/ember-a.log" "$E2E_DIR/ember-b.log" | python3 -c '
import json, sys
for line in sys.stdin:
    try:
        d = json.loads(line)
    except ValueError:
        continue
    if d.get("log") == "audit" and d.get("outcome") == "issued" and d.get("namespace") == "ha":
        print(d.get("uid", "?"))' | sort >"$CASE_DIR/issued"
# A status write in flight when the leader was killed can land in etcd while its client is gone:
# the API server's audit log records it with code 504 and the killed replica never wrote its
# audit line. Such a write counts as the request's one signing.
inflight=$(audit_count "verb == 'patch' and o.get('resource') == 'certificaterequests' and o.get('subresource') == 'status' and o.get('namespace') == '$NS' and u == '$EMBER_USER' and code == 504")
check "no request UID is issued twice in Ember's audit logs (both replicas)" \
  test -z "$(uniq -d "$CASE_DIR/issued")"
missing=$(comm -23 "$CASE_DIR/uids" <(sort -u "$CASE_DIR/issued") | wc -l)
check "every request is in Ember's audit logs but those whose write was cut by the kill ($missing missing, $inflight writes in flight at the kill)" \
  test "$missing" -le "$inflight"
audit_count_by "o.get('name')" "verb == 'patch' and o.get('resource') == 'certificaterequests' and o.get('subresource') == 'status' and o.get('namespace') == '$NS' and u == '$EMBER_USER' and code in (200, 504)" >"$CASE_DIR/writes"
dups=0
for i in $(seq 1 $((N1 + N2))); do
  w=$(awk -v n="r$i" '$1 == n {print $2}' "$CASE_DIR/writes")
  [ "${w:-0}" = 1 ] || { dups=$((dups + 1)); echo "# r$i: ${w:-0} status writes by Ember that reached the server"; }
done
check "the API server's audit log: one status write by Ember reached each request (none twice)" test "$dups" = 0
check "the follower decided nothing before it took the Lease (no audit line before 'acquired' in its log)" \
  bash -c 'awk "/acquired the Lease/ {exit} /\"log\":\"audit\"/ {bad=1} END {exit bad}" "$1"' _ "$E2E_DIR/$other.log"
