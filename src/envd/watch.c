/* SPDX-License-Identifier: MIT */
/* WatchDir and the polling watchers (inotify).  Not implemented yet. */
#include "envd/fs.h"

#include "basic/xalloc.h"
#include "http/connect.h"

#include <stdlib.h>
#include <string.h>

struct watchers {
	int unused;
};

struct watchers *watchers_new(void)
{
	return xcalloc(1, sizeof(struct watchers));
}

void watchers_free(struct watchers *w)
{
	free(w);
}

void envd_watch_rpc(struct envd *e, struct http_req *req, const char *method)
{
	(void)e;
	if (!strcmp(method, "WatchDir")) {
		if (connect_stream_begin(req) == 0)
			connect_stream_end(req, CONNECT_UNIMPLEMENTED,
					   "WatchDir is not implemented yet");
		return;
	}
	connect_reply_error(req, CONNECT_UNIMPLEMENTED, "%s is not implemented yet", method);
}
