/**
 * The named workloads of `bgc bench` (DESIGN §5) as weighted mixes of operations. Each
 * single-purpose workload is one operation; `mixed` is the social-app mix of the issue:
 * 60% profile and session reads, 15% inbox and history, 10% feed, 5% search, 10% writes.
 */
export const OPERATIONS = [
  'profile_read', 'session_read', 'inbox', 'history', 'feed_global', 'feed_following',
  'search', 'message_send', 'post_create', 'comment_create', 'healthz', 'trivial',
  'group_feed', 'group_list', 'gallery',
] as const;
export type Operation = (typeof OPERATIONS)[number];

export const API_WORKLOADS = ['profile', 'inbox', 'history', 'search', 'feed', 'send', 'mixed'] as const;
type ApiWorkload = (typeof API_WORKLOADS)[number];
/**
 * The hot reads of issue 20's features (a group's feed, the group list, a profile's photo
 * gallery). Run by name (`--workload group_feed,groups,gallery`); not in the default set,
 * whose figures the reports compare run to run.
 */
export const FEATURE_WORKLOADS = ['group_feed', 'groups', 'gallery'] as const;
type FeatureWorkload = (typeof FEATURE_WORKLOADS)[number];
/**
 * The grouped writes beside `send` (issue 16, app-level group commit): status updates and
 * comments on recent posts of the seeded data. Run by name (`--workload send,post,comment`);
 * not in the default set, whose figures the reports compare run to run.
 */
export const WRITE_WORKLOADS = ['post', 'comment'] as const;
type WriteWorkload = (typeof WRITE_WORKLOADS)[number];
/** healthz exercises the harness without the API (the framework's own smoke test). */
export type WorkloadName = ApiWorkload | FeatureWorkload | WriteWorkload | 'healthz';

export const WORKLOAD_MIX: Readonly<Record<WorkloadName | 'trivial', ReadonlyArray<readonly [Operation, number]>>> = {
  profile: [['profile_read', 1]],
  inbox: [['inbox', 1]],
  history: [['history', 1]],
  search: [['search', 1]],
  feed: [['feed_global', 0.5], ['feed_following', 0.5]],
  send: [['message_send', 1]],
  post: [['post_create', 1]],
  comment: [['comment_create', 1]],
  mixed: [
    ['profile_read', 0.50], ['session_read', 0.10],
    ['inbox', 0.075], ['history', 0.075],
    ['feed_global', 0.05], ['feed_following', 0.05],
    ['search', 0.05],
    ['message_send', 0.07], ['post_create', 0.03],
  ],
  group_feed: [['group_feed', 1]],
  groups: [['group_list', 1]],
  gallery: [['gallery', 1]],
  healthz: [['healthz', 1]],
  trivial: [['trivial', 1]],
};
