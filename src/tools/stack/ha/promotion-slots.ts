import path from 'node:path';
import type { HaLayout, HaMemberLayout } from './layout.ts';

/**
 * The peers' replication slots on a member the moment it is promoted, by Patroni's
 * `on_role_change` callback.
 *
 * Patroni 3.0.2 keeps member slots on the leader only: a replica holds none of its peers'
 * slots (dcs get_replication_slots: on a replica, only logical permanent slots), and the
 * promoted member creates them in its first full HA cycle after the promotion, which comes
 * `loop_wait` after the cycle that finishes the promotion. Until then the other replica,
 * re-pointed at the new leader, is refused ("replication slot "pg2" does not exist") and,
 * with synchronous_mode_strict, no commit is acknowledged: a switchover measured 3.1 s of
 * its 5.4 s write outage here (docs/RELIABILITY.md). Patroni calls this script right after
 * `pg_ctl promote`, so the slots exist before the replicas look for them. A physical slot may
 * be created on a server still in recovery; the statement creates only missing ones, as
 * Patroni's does, and Patroni adopts them as its own (same names, same type). The script
 * exits 0 for every other role change, and a failure only costs the old delay.
 */
export function onRoleChangeScriptFile(member: HaMemberLayout): string {
  return path.join(member.dir, 'on-role-change.sh');
}

/** Patroni's slot name for a member (slot_name_from_member_name): lower case, `-` and `.` as `_`. */
export function memberSlotName(memberName: string): string {
  const name = memberName.toLowerCase().replace(/[-.]/g, '_');
  if (!/^[a-z0-9_]{1,63}$/.test(name)) throw new Error(`HA layout: member name ${memberName} does not map to a plain slot name`);
  return name;
}

export function onRoleChangeScript(layout: HaLayout, member: HaMemberLayout, binDir: string): string {
  const peers = layout.members.filter((m) => m.name !== member.name).map((m) => memberSlotName(m.name));
  const statements = peers.map((slot) =>
    `-c "SELECT pg_catalog.pg_create_physical_replication_slot('${slot}', true) WHERE NOT EXISTS ` +
    `(SELECT 1 FROM pg_catalog.pg_replication_slots WHERE slot_name = '${slot}')"`);
  const log = path.join(member.dir, 'callbacks.log');
  return [
    '#!/bin/sh',
    '# Written by `bgc stack up --ha` (src/tools/stack/ha/promotion-slots.ts); rewritten at every start.',
    '# Patroni runs it as: on-role-change.sh on_role_change <new role> <scope>.',
    '[ "$2" = master ] || [ "$2" = primary ] || exit 0',
    // Each -c runs on its own (no ON_ERROR_STOP): a slot Patroni created meanwhile fails alone.
    `PGCONNECT_TIMEOUT=3 '${path.join(binDir, 'psql')}' -X -q -A -t -h /tmp -p ${member.pgPort} -U postgres -d postgres \\`,
    `  ${statements.join(' \\\n  ')} >/dev/null 2>>'${log}'`,
    'rc=$?',
    `echo "$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ) promoted: peers' slots ${peers.join(', ')} ensured (psql exit $rc)" >>'${log}'`,
    '',
  ].join('\n');
}
