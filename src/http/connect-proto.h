/* SPDX-License-Identifier: MIT */
#pragma once
/*
 * Connect's protobuf codec (application/proto, application/connect+proto) as a transcoder
 * between protobuf wire messages and the JSON the handlers speak, driven by protobuf-c
 * message descriptors (any message type: nothing here knows envd's services).
 *
 * The JSON side is proto3's canonical JSON mapping: lowerCamelCase names (the proto names
 * are accepted too), 64-bit integers as strings (numbers accepted), enums by value name
 * (numbers accepted), bytes as standard base64, maps as objects, google.protobuf.Timestamp
 * as an RFC 3339 string in UTC.
 *
 * Decoding (a client's request) keeps proto semantics: fields the descriptor does not know
 * are ignored, as every protobuf reader does.  Encoding (a handler's answer) is strict: a key
 * without a field in the descriptor, or a value of the wrong JSON type, is an error naming
 * it, so a handler and the .proto cannot drift apart unnoticed.
 */
#include "basic/err.h"
#include "http/connect.h"

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

/* buf[0..len) (a message of type desc) -> JSON object (new reference). */
int connect_proto_to_json(const ProtobufCMessageDescriptor *desc, const uint8_t *buf, size_t len,
			  json_t **ret, struct wr_err *err);
/* JSON object -> protobuf bytes (malloc'd; *ret_len may be 0, *ret is then still freeable). */
int connect_proto_from_json(const ProtobufCMessageDescriptor *desc, const json_t *msg,
			    uint8_t **ret, size_t *ret_len, struct wr_err *err);

/* The codec for connect_use_codec(): in/out are ProtobufCMessageDescriptor pointers. */
extern const struct connect_codec connect_proto_codec;
