import { describe, expect, it } from 'vitest';
import { ageFrom } from '../../src/services/age.ts';
import { relationshipStatus, type RelationshipEdge } from '../../src/services/profiles/relationship-reader.ts';

describe('ageFrom', () => {
  const now = new Date('2026-12-06T12:00:00Z');

  it('counts whole years, turning on the birthday itself (UTC)', () => {
    expect(ageFrom('2000-12-06', now)).toBe(26);
    expect(ageFrom('2000-12-07', now)).toBe(25);
    expect(ageFrom('2000-11-30', now)).toBe(26);
    expect(ageFrom('2008-02-29', new Date('2026-02-28T23:59:59Z'))).toBe(17);
    expect(ageFrom('2008-02-29', new Date('2026-03-01T00:00:00Z'))).toBe(18);
  });

  it('reads a date without zero padding the slow way, and nothing from nothing', () => {
    expect(ageFrom('2000-2-3', now)).toBe(26);
    expect(ageFrom(null, now)).toBeNull();
    expect(ageFrom('', now)).toBeNull();
  });
});

describe('relationshipStatus', () => {
  const edge = (outgoing: boolean, kind: RelationshipEdge['kind'], status: RelationshipEdge['status'] = 'accepted'): RelationshipEdge => ({ outgoing, kind, status });

  it('reads friendship from either direction and pending requests by direction', () => {
    expect(relationshipStatus([edge(false, 'friend')], false).friend_status).toBe('friends');
    expect(relationshipStatus([edge(true, 'friend', 'pending')], false).friend_status).toBe('pending_outgoing');
    expect(relationshipStatus([edge(false, 'friend', 'pending')], false).friend_status).toBe('pending_incoming');
    expect(relationshipStatus([], true)).toEqual({ is_self: true, friend_status: 'none', is_favorite: false, is_blocked: false, blocked_by: false });
  });

  it('tells the viewer\'s own favourite and block from a block against the viewer', () => {
    expect(relationshipStatus([edge(true, 'favorite'), edge(true, 'block')], false)).toMatchObject({ is_favorite: true, is_blocked: true, blocked_by: false });
    expect(relationshipStatus([edge(false, 'block'), edge(false, 'favorite')], false)).toMatchObject({ is_favorite: false, is_blocked: false, blocked_by: true });
  });
});
