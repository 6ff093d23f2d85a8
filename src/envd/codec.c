/* SPDX-License-Identifier: MIT */
/* The Connect protobuf codec of envd's services: the router names a call's message types
 * (from the service descriptors protoc-c made of src/envd/proto/) and the transcoder
 * of src/http/connect-proto.c does the rest; the handlers keep speaking JSON. */
#include "envd/codec.h"

#include "envd/proto/filesystem.pb-c.h"
#include "envd/proto/process.pb-c.h"
#include "http/connect-proto.h"
#include "http/connect.h"

#include <errno.h>
#include <string.h>

int envd_rpc_codec(struct http_req *req, const char *svc, const char *method)
{
	char name[32];
	bool stream = false;
	const char *codec = connect_content_codec(req, name, sizeof(name), &stream);
	if (!codec || strcmp(codec, "proto"))
		return 0; /* JSON, or a content type the handler refuses with 415 */
	const ProtobufCServiceDescriptor *sd = !strcmp(svc, "process")
						       ? &process__process__descriptor
						       : &filesystem__filesystem__descriptor;
	const ProtobufCMethodDescriptor *md =
		protobuf_c_service_descriptor_get_method_by_name(sd, method);
	if (!md)
		return -ENOENT;
	connect_use_codec(req, &connect_proto_codec, md->input, md->output);
	return 1;
}
