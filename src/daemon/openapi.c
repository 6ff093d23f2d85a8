/* SPDX-License-Identifier: MIT */
/* GET /openapi.yaml: docs/openapi.yaml, embedded at build time (mk/daemon.mk generates the
 * byte array), so the repo keeps one copy and the binary needs no file at run time. */
#include "daemon/agent.h"

#include "daemon/openapi-data.h"

void agent_openapi(struct http_req *req)
{
	http_resp_send(req, 200, "application/yaml", openapi_yaml, sizeof(openapi_yaml));
}
