import type { Prng } from './prng.ts';
import { INTERESTS, SLOTS } from './vocab.ts';

/**
 * Sentences for seeded messages, posts, comments and bios, built from templates with real
 * words. Hot tables (10M messages) draw from pools of pre-encoded sentences: encoding a
 * fresh string per row would cost more than everything else the generator does.
 */
const MESSAGE_TEMPLATES = [
  'hey, are you going to the {event} {when}?',
  'just got back from {place}, it was {adj}',
  'did you see that {media} about {topic}?',
  "I'm thinking about {activity} {when}, want to join?",
  'lol that {noun} was {adj}',
  "can't wait for the {event} {when}",
  'good morning! how was your {period}?',
  "let me know when you're free {when}",
  'the {food} at {place} is {adj}',
  'I finally finished that {media}, honestly {adj}',
  'we should get {food} {when}',
  'how did the {noun} go?',
  'running late, meet me at {place}',
  'thanks for yesterday, the {event} was {adj}',
  'ok sounds good, see you {when}',
  'that {media} on {topic} changed my mind',
  'are you still into {activity}?',
  'miss you! {period} was {adj} without you',
];

const POST_TEMPLATES = [
  '{feeling} today. Just got back from {place} and it was {adj}.',
  'Anyone going to the {event} {when}? Looking for people to go with.',
  'Hot take: {food} is {adj}. Fight me.',
  'Started {activity} again this {period}. {feeling}!',
  'Watched this {media} about {topic} last night. Honestly {adj} and worth your time.',
  'Big thanks to everyone who came to the {event}. It was {adj}.',
  'New {noun} dropping {when}. Stay tuned.',
  'Reminder: drink water, call your people, and go outside. {place} is {adj} right now.',
  'Best {food} in town? Asking for a friend.',
  "Can't stop thinking about {topic}. Recommend me a good {media}?",
];

const COMMENT_TEMPLATES = [
  'So true!', 'This is {adj}', 'Count me in for the {event}', 'Where is this?', 'Love this', 'Same here, {feeling}',
  'The {food} there is {adj}', 'Congrats!', 'I was at {place} too', "Let's go {when}", 'Facts', 'Need that {media} title',
  'Haha {adj}', 'Miss you!', 'Proud of you', 'Send me the link',
];

function fill(template: string, rng: Prng): string {
  return template.replace(/\{(\w+)\}/g, (_m, slot: string) => {
    const options = SLOTS[slot];
    return options ? rng.pick(options) : slot;
  });
}

function pool(templates: readonly string[], size: number, rng: Prng, sentences: (t: string) => string): Buffer[] {
  return Array.from({ length: size }, () => Buffer.from(sentences(rng.pick(templates)), 'utf8'));
}

export interface TextPools {
  readonly messages: readonly Buffer[];
  readonly posts: readonly Buffer[];
  readonly comments: readonly Buffer[];
}

/** Pool sizes are powers of two so a row picks one with a mask. */
export const POOL_MASK = { messages: 8191, posts: 4095, comments: 2047 } as const;

export function buildTextPools(rng: Prng): TextPools {
  const twice = (t: string) => (rng.chance(0.25) ? `${fill(t, rng)} ${fill(rng.pick(MESSAGE_TEMPLATES), rng)}` : fill(t, rng));
  return {
    messages: pool(MESSAGE_TEMPLATES, POOL_MASK.messages + 1, rng, twice),
    posts: pool(POST_TEMPLATES, POOL_MASK.posts + 1, rng, (t) => fill(t, rng)),
    comments: pool(COMMENT_TEMPLATES, POOL_MASK.comments + 1, rng, (t) => fill(t, rng)),
  };
}

/** A profile bio: a trait and the occupation, interests, the city, a free sentence. */
export function bio(rng: Prng, city: string, interests: readonly string[], occupation: string): string {
  const likes = interests.length > 0 ? interests : [rng.pick(INTERESTS)];
  const parts = [
    `${rng.pick(SLOTS.trait ?? ['Friendly'])} ${occupation} living in ${city}.`,
    `I love ${likes.join(', ')}.`,
    fill(rng.pick(['Ask me about my favorite {media}.', 'Always down for {food} and good conversation.',
      'Weekends are for {activity}.', 'Looking for people to go {activity} with.', 'You can find me at {place} most days.',
      'Currently obsessed with {topic}.']), rng),
  ];
  return parts.join(' ');
}

export function roomName(rng: Prng, cityName: string): string {
  const base = rng.chance(0.5) ? `${cityName}` : rng.pick(INTERESTS).replace(/\b\w/g, (c) => c.toUpperCase());
  return `${base} ${rng.pick(['Lounge', 'Hangout', 'Chat', 'Circle', 'Club', 'Corner', 'Crew', 'Talk', 'Connect'])}`;
}

export function sentence(rng: Prng): string {
  return fill(rng.pick(POST_TEMPLATES), rng);
}
