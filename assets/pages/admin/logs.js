// Admin All Logs page: every account's request logs with a user filter (see logs-view.js).

import { mountLogs } from '../logs-view.js';

export function mount(root, ctx) {
  return mountLogs(root, ctx, { admin: true });
}
