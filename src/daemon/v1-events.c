/* SPDX-License-Identifier: MIT */
/*
 * GET /v1/events on one host (docs/openapi.yaml "Events"; events-view.h): the store's event log,
 * which the runtime writes on created, create_failed, paused, resumed, killed, reattached, error,
 * snapshot and agent-wide events (volume_*, template_built, template_fetched).
 *
 * Tenancy: a team key sees the events of its team's sandboxes (the team recorded with each
 * event), never agent-wide ones (they have no sandbox: an operator's); an operator key sees all.
 * The answer has the control plane's shape: hostId is this agent's --host-id when it is a host of
 * a control plane, else null, so ?hostId= other than that matches nothing.
 */
#include "daemon/agent.h"
#include "daemon/auth.h"
#include "daemon/events-view.h"

#include "basic/cleanup.h"

#include <string.h>

void v1_events(struct agent *a, struct http_req *req, char **caps)
{
	(void)caps;
	struct events_query q;
	if (events_query_or_reply(req, &q) < 0)
		return;
	const char *self = a->cfg.host_id && *a->cfg.host_id ? a->cfg.host_id : NULL;
	if (q.host_id && (!self || strcmp(q.host_id, self) != 0)) {
		events_reply(req, json_array(), 0);
		return;
	}
	/* one row more than asked tells whether a next page exists */
	struct store_event_filter f = {
		.sandbox_id = q.sandbox_id,
		.kind = q.kind,
		.team = auth_team(req),
		.before = q.before,
		.limit = q.limit + 1,
	};
	struct store_event *rows = NULL;
	size_t n = 0;
	struct wr_err err = {0};
	int r = store_event_list(a->st, &f, &rows, &n, &err);
	if (r < 0) {
		agent_reply_rt_error(req, r, &err);
		return;
	}
	size_t shown = n > (size_t)q.limit ? (size_t)q.limit : n;
	json_t *arr = json_array();
	for (size_t i = 0; i < shown; i++) {
		const struct store_event *e = &rows[i];
		/* an operator's sandbox has team "": null, as on the control plane */
		json_array_append_new(arr,
				      events_json(e->seq, e->time, e->kind, e->sandbox_id, self,
						  e->team && *e->team ? e->team : NULL, e->detail));
	}
	int64_t next = n > shown ? rows[shown - 1].seq : 0;
	store_event_list_free(rows, n);
	events_reply(req, arr, next);
}
