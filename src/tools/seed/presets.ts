/**
 * Dataset sizes. The first six columns are DESIGN §4 and exact; the rest are ours, sized
 * relative to the user count so the shape stays the same from small to large.
 */
export interface Preset {
  readonly name: PresetName;
  readonly users: number;
  readonly messages: number;
  readonly statusUpdates: number;
  readonly comments: number;
  readonly relationships: number;
  readonly months: number;
  readonly conversations: number;
  readonly chatRooms: number;
  readonly groups: number;
  readonly groupMemberships: number;
  readonly ratings: number;
  /** Share of status updates posted in a group (group feeds), by the group's owner. */
  readonly groupPostShare: number;
  /** Photo metadata rows (profile galleries; no image files are written). */
  readonly photos: number;
  /** Profiles with an open moderation case, and the content reports filed about them. */
  readonly reportCases: number;
  readonly reports: number;
  /** Share of messages sent in direct conversations; the rest go to chat rooms. */
  readonly conversationShare: number;
}

export const PRESET_NAMES = ['small', 'medium', 'large'] as const;
export type PresetName = (typeof PRESET_NAMES)[number];

function preset(name: PresetName, users: number, messages: number, statusUpdates: number, comments: number, relationships: number, months: number, chatRooms: number): Preset {
  return {
    name, users, messages, statusUpdates, comments, relationships, months, chatRooms,
    conversations: users * 2,
    groups: Math.max(10, users / 100),
    groupMemberships: Math.round(users * 1.5),
    ratings: users * 2,
    groupPostShare: 0.1,
    photos: Math.round(users * 0.8),
    reportCases: Math.max(5, users / 100),
    reports: Math.max(5, users / 100) * 4,
    conversationShare: 0.8,
  };
}

export const PRESETS: Readonly<Record<PresetName, Preset>> = {
  small: preset('small', 1_000, 50_000, 10_000, 20_000, 10_000, 6, 20),
  medium: preset('medium', 10_000, 1_000_000, 200_000, 200_000, 100_000, 12, 60),
  large: preset('large', 100_000, 10_000_000, 2_000_000, 2_000_000, 1_000_000, 30, 200),
};

export function isPresetName(v: string): v is PresetName {
  return (PRESET_NAMES as readonly string[]).includes(v);
}
