// Logs page: the member's own request logs (see logs-view.js).

import { mountLogs } from './logs-view.js';

export function mount(root, ctx) {
  return mountLogs(root, ctx, { admin: false });
}
