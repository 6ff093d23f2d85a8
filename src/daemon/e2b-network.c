/* SPDX-License-Identifier: MIT */
/*
 * PUT /sandboxes/{id}/network: the SDK's updateNetwork.  The body replaces the sandbox's
 * allowOut/denyOut (omitted = cleared) and may switch allow_internet_access; the new sets go
 * into the sandbox's egress table in one nft batch, so no packet sees half a policy.
 */
#include "daemon/agent.h"
#include "daemon/reply.h"

#include "basic/cleanup-json.h"
#include "basic/log.h"

#include <errno.h>

void e2b_network_update(struct agent *a, struct http_req *req, char **caps)
{
	cleanup_json json_t *body = NULL;
	if (reply_read_json(req, REPLY_MAX_JSON_BODY, true, &body) < 0)
		return;
	struct wr_err err = {0};
	char **allow = NULL, **deny = NULL;
	int internet = -1;
	int r = view_parse_network_update(body, &allow, &deny, &internet, &err);
	if (r < 0) {
		reply_error(req, 400, "%s", wr_err_msg(&err));
		return;
	}
	r = runtime_set_network(a->rt, caps[0], internet, allow, deny, &err);
	view_cidrs_free(allow);
	view_cidrs_free(deny);
	if (r < 0) {
		log_warn("network of %s: %s", caps[0], wr_err_msg(&err));
		agent_reply_rt_error(req, r, &err);
		return;
	}
	log_info("network of %s updated", caps[0]);
	reply_empty(req, 204);
}
