import assert from "node:assert/strict";
import { describeEndpoint, parseTcpView, unsaveable } from "./tcp.ts";

// The format `runsc exec ID cat /proc/net/tcp /proc/net/tcp6 /proc/net/snmp` prints (the ESTABLISHED, LISTEN and
// TIME_WAIT lines as measured in tests/checkpoint_test.ts's world; the IPv6 CLOSE_WAIT one and the counters made up).
const GVISOR = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   1: 0200F40A:72C1 0101630A:1E61 01 00000000:00000000 00:00000000 00000000     0        0        2 2 0000000000000000 0 0 0 0 -1
  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0        1 2 0000000000000000 0 0 0 0 -1
   1: 0000000000000000FFFF00000101630A:1E61 0000000000000000FFFF00000200F40A:72C1 06 00000000:00000000 03:0000173B 00000000     0        0 0 3 00000000949acf29
   2: 000044FD000000000000000002000000:0050 000044FD000000000000000001000000:D431 08 00000000:00000000 00:00000000 00000000     0        0 0 3 0
Ip: Forwarding DefaultTTL InReceives
Ip: 0 0 5
Tcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens PassiveOpens AttemptFails EstabResets CurrEstab InSegs OutSegs RetransSegs InErrs OutRsts InCsumErrors
Tcp: 1 200 120000 -1 1 2 0 0 0 2 4 0 0 0 0
`;

Deno.test("parseTcpView reads gVisor's /proc/net/tcp{,6} (host-order words) and the snmp open counters", () => {
  const v = parseTcpView(GVISOR);
  assert.deepEqual(v.endpoints.map(describeEndpoint), [
    "10.244.0.2:29377 → 10.99.1.1:7777 ESTABLISHED",
    "[::]:8080 → [::]:0 LISTEN",
    "10.99.1.1:7777 → 10.244.0.2:29377 TIME_WAIT",
    "[fd44::2]:80 → [fd44::1]:54321 CLOSE_WAIT",
  ]);
  assert.equal(v.opened, 3);
  assert.deepEqual(unsaveable(v).map((e) => e.state), ["ESTABLISHED", "TIME_WAIT", "CLOSE_WAIT"]);
});

Deno.test("parseTcpView: no endpoints and no snmp is an empty view, not an error", () => {
  assert.deepEqual(parseTcpView("  sl  local_address rem_address   st\n"), { endpoints: [], opened: null });
});
