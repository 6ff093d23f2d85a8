/* SPDX-License-Identifier: MIT */
#include "daemon/auth.h"
#include "daemon/host-call.h"
#include "daemon/pty-ws.h"
#include "daemon/reply.h"

#include "basic/cleanup.h"
#include "basic/log.h"
#include "basic/xalloc.h"
#include "store/store.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

static const char *trim(const char *s, size_t *len)
{
	size_t n = strlen(s);
	while (n && (*s == ' ' || *s == '\t')) {
		s++;
		n--;
	}
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	*len = n;
	return s;
}

const char *auth_key_from_headers(const char *x_api_key, const char *authorization, size_t *ret_len)
{
	size_t n;
	if (x_api_key) {
		const char *k = trim(x_api_key, &n);
		if (n) {
			*ret_len = n;
			return k;
		}
	}
	if (authorization) {
		const char *a = trim(authorization, &n);
		if (n > 7 && strncasecmp(a, "bearer", 6) == 0 && (a[6] == ' ' || a[6] == '\t')) {
			const char *k = trim(a + 7, &n);
			/* trim() measured from k to the end of the header, already right-trimmed */
			if (n) {
				*ret_len = n;
				return k;
			}
		}
	}
	return NULL;
}

bool auth_key_well_formed(const char *s, size_t n)
{
	if (n != STORE_KEY_LEN || strncmp(s, "e2b_", 4) != 0)
		return false;
	for (size_t i = 4; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

void auth_caller_done(struct auth_caller *c)
{
	if (!c)
		return;
	free(c->key_id);
	free(c->team);
	c->key_id = c->team = NULL;
}

const struct auth_caller *auth_caller_of(const struct http_req *req)
{
	return http_req_ctx(req);
}

bool auth_is_operator(const struct http_req *req)
{
	const struct auth_caller *c = auth_caller_of(req);
	return !c || !c->team || !*c->team;
}

const char *auth_team(const struct http_req *req)
{
	return auth_is_operator(req) ? NULL : auth_caller_of(req)->team;
}

bool auth_may_see(const struct http_req *req, const char *owner_team)
{
	if (auth_is_operator(req))
		return true;
	return !strcmp(auth_caller_of(req)->team, owner_team ? owner_team : "");
}

int auth_check(struct store *st, struct http_req *req, struct auth_caller *ret)
{
	/* The control plane calls a host with signed requests, never with a key (host-call.h): a
	 * genuine call acts as an operator, like the API key it replaces, or as the team named by
	 * X-Wrenn-Team, which the signature covers (the control plane's caller had that team's
	 * key): tenancy then holds on the host as for a team key of its own. */
	if (http_req_header(req, "X-Wrenn-Signature")) {
		int r = host_call_check(req);
		const char *team = http_req_header(req, "X-Wrenn-Team");
		if (r == 0 && ret)
			*ret = (struct auth_caller){.key_id = xstrdup("control-plane"),
						    .team = xstrdup(team ? team : "")};
		return r;
	}
	size_t n = 0;
	const char *k = auth_key_from_headers(http_req_header(req, "X-API-Key"),
					      http_req_header(req, "Authorization"), &n);
	if (!k && pty_ws_requested(req)) /* a browser's WebSocket cannot set headers */
		k = pty_ws_key(http_req_header(req, "Sec-WebSocket-Protocol"), &n);
	if (!k) {
		reply_error(req, 401, "missing API key: send header X-API-Key: e2b_<40 hex>");
		return -EACCES;
	}
	if (!auth_key_well_formed(k, n)) {
		reply_error(req, 401, "invalid API key: expected e2b_ followed by 40 hex digits");
		return -EACCES;
	}
	cleanup_free char *key = xstrndup(k, n);
	struct wr_err err = {0};
	cleanup_free char *id = NULL, *team = NULL;
	int r = store_key_verify(st, key, &id, &err);
	explicit_bzero(key, n);
	if (r == 0)
		r = store_key_team(st, id, &team, &err);
	if (r == -ENOENT) /* revoked between the two reads */
		r = -EACCES;
	if (r == -EACCES) {
		reply_error(req, 401, "invalid API key");
		return r;
	}
	if (r < 0) {
		log_error("auth: %s", wr_err_msg(&err));
		reply_error(req, 500, "cannot check the API key: %s", wr_err_msg(&err));
		return r;
	}
	if (ret)
		*ret = (struct auth_caller){.key_id = TAKE_PTR(id), .team = TAKE_PTR(team)};
	return 0;
}
