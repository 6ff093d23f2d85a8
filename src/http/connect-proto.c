/* SPDX-License-Identifier: MIT */
/* Protobuf <-> JSON transcoding of Connect messages, generic over protobuf-c descriptors. */
#include "http/connect-proto.h"

#include "basic/base64.h"
#include "basic/cleanup-json.h"
#include "basic/cleanup.h"
#include "basic/xalloc.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_DEPTH 32

/* proto name -> lowerCamelCase JSON name ("exit_code" -> "exitCode"). */
static void json_name(const char *proto, char *out, size_t n)
{
	size_t k = 0;
	bool up = false;
	for (const char *p = proto; *p && k + 1 < n; p++) {
		if (*p == '_') {
			up = true;
			continue;
		}
		out[k++] = up && *p >= 'a' && *p <= 'z' ? (char)(*p - 'a' + 'A') : *p;
		up = false;
	}
	out[k] = '\0';
}

/* "a.b" / "a[3]" for error messages; truncated when long. */
static void path_join(char *out, size_t n, const char *path, const char *key)
{
	if (snprintf(out, n, "%s%s%s", path, *path && *key != '[' ? "." : "", key) >= (int)n)
		out[n - 1] = '\0';
}

static bool is_map_entry(const ProtobufCMessageDescriptor *d)
{
	size_t l = strlen(d->name);
	return d->n_fields == 2 && l > 5 && !strcmp(d->name + l - 5, "Entry") &&
	       d->fields[0].id == 1 && !strcmp(d->fields[0].name, "key") && d->fields[1].id == 2 &&
	       !strcmp(d->fields[1].name, "value");
}

static bool is_timestamp(const ProtobufCMessageDescriptor *d)
{
	return !strcmp(d->name, "google.protobuf.Timestamp") ||
	       (d->package_name && !strcmp(d->package_name, "google.protobuf") &&
		!strcmp(d->short_name, "Timestamp"));
}

static size_t elt_size(ProtobufCType t)
{
	switch (t) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		return 4;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		return 8;
	case PROTOBUF_C_TYPE_FLOAT:
		return sizeof(float);
	case PROTOBUF_C_TYPE_DOUBLE:
		return sizeof(double);
	case PROTOBUF_C_TYPE_BOOL:
		return sizeof(protobuf_c_boolean);
	case PROTOBUF_C_TYPE_ENUM:
		return sizeof(int);
	case PROTOBUF_C_TYPE_STRING:
		return sizeof(char *);
	case PROTOBUF_C_TYPE_BYTES:
		return sizeof(ProtobufCBinaryData);
	case PROTOBUF_C_TYPE_MESSAGE:
	default:
		return sizeof(void *);
	}
}

/* ------------------------------------------------------------------ timestamps */

static json_t *timestamp_json(int64_t sec, int32_t nanos)
{
	if (nanos < 0 || nanos > 999999999)
		return NULL;
	time_t t = (time_t)sec;
	struct tm tm;
	if (!gmtime_r(&t, &tm) || tm.tm_year + 1900 < 1 || tm.tm_year + 1900 > 9999)
		return NULL;
	char out[64];
	size_t k = strftime(out, sizeof(out), "%Y-%m-%dT%H:%M:%S", &tm);
	/* proto3 JSON: 0, 3, 6 or 9 fractional digits */
	if (nanos % 1000000 == 0 && nanos)
		snprintf(out + k, sizeof(out) - k, ".%03dZ", nanos / 1000000);
	else if (nanos % 1000 == 0 && nanos)
		snprintf(out + k, sizeof(out) - k, ".%06dZ", nanos / 1000);
	else if (nanos)
		snprintf(out + k, sizeof(out) - k, ".%09dZ", nanos);
	else
		snprintf(out + k, sizeof(out) - k, "Z");
	return json_string(out);
}

/* RFC 3339 ("2024-01-02T03:04:05.123Z", "...+02:00") -> seconds, nanos. */
static int timestamp_parse(const char *s, int64_t *ret_sec, int32_t *ret_nanos)
{
	struct tm tm = {0};
	const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!p)
		return -EINVAL;
	int32_t nanos = 0;
	if (*p == '.') {
		int digits = 0;
		for (p++; *p >= '0' && *p <= '9'; p++, digits++)
			if (digits < 9)
				nanos = nanos * 10 + (*p - '0');
		if (!digits)
			return -EINVAL;
		for (; digits < 9; digits++)
			nanos *= 10;
	}
	int64_t sec = (int64_t)timegm(&tm);
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int hh, mm, used = 0;
		if (sscanf(p + 1, "%2d:%2d%n", &hh, &mm, &used) != 2 || used != 5 || hh > 23 ||
		    mm > 59)
			return -EINVAL;
		sec -= (*p == '+' ? 1 : -1) * (int64_t)(hh * 3600 + mm * 60);
		p += 6;
	} else {
		return -EINVAL;
	}
	if (*p)
		return -EINVAL;
	*ret_sec = sec;
	*ret_nanos = nanos;
	return 0;
}

/* ------------------------------------------------------------ protobuf -> JSON */

static json_t *message_json(const ProtobufCMessage *m, int depth, struct wr_err *err);

static json_t *float_json(double d)
{
	if (isnan(d))
		return json_string("NaN");
	if (isinf(d))
		return json_string(d > 0 ? "Infinity" : "-Infinity");
	return json_real(d);
}

static json_t *value_json(const ProtobufCFieldDescriptor *f, const void *p, int depth,
			  struct wr_err *err)
{
	char num[32];
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		return json_integer(*(const int32_t *)p);
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		return json_integer(*(const uint32_t *)p);
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		snprintf(num, sizeof(num), "%" PRId64, *(const int64_t *)p);
		return json_string(num);
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		snprintf(num, sizeof(num), "%" PRIu64, *(const uint64_t *)p);
		return json_string(num);
	case PROTOBUF_C_TYPE_FLOAT:
		return float_json(*(const float *)p);
	case PROTOBUF_C_TYPE_DOUBLE:
		return float_json(*(const double *)p);
	case PROTOBUF_C_TYPE_BOOL:
		return json_boolean(*(const protobuf_c_boolean *)p);
	case PROTOBUF_C_TYPE_ENUM: {
		int v = *(const int *)p;
		const ProtobufCEnumValue *ev =
			protobuf_c_enum_descriptor_get_value(f->descriptor, v);
		return ev ? json_string(ev->name) : json_integer(v);
	}
	case PROTOBUF_C_TYPE_STRING: {
		const char *s = *(char *const *)p;
		json_t *j = json_string(s ? s : "");
		if (!j)
			wr_err_set(err, EINVAL, "field %s: string is not valid UTF-8", f->name);
		return j;
	}
	case PROTOBUF_C_TYPE_BYTES: {
		const ProtobufCBinaryData *b = p;
		cleanup_free char *s = base64_encode(b->data, b->len);
		return json_string(s);
	}
	case PROTOBUF_C_TYPE_MESSAGE: {
		const ProtobufCMessage *sub = *(ProtobufCMessage *const *)p;
		if (!sub)
			return json_object();
		if (is_timestamp(sub->descriptor)) {
			const ProtobufCMessageDescriptor *d = sub->descriptor;
			int64_t sec = 0;
			int32_t ns = 0;
			for (unsigned i = 0; i < d->n_fields; i++) {
				const char *base = (const char *)sub + d->fields[i].offset;
				if (d->fields[i].id == 1)
					memcpy(&sec, base, sizeof(sec));
				else if (d->fields[i].id == 2)
					memcpy(&ns, base, sizeof(ns));
			}
			json_t *j = timestamp_json(sec, ns);
			if (!j)
				wr_err_set(err, EINVAL, "field %s: timestamp out of range",
					   f->name);
			return j;
		}
		return message_json(sub, depth + 1, err);
	}
	}
	wr_err_set(err, EINVAL, "field %s: unsupported type %d", f->name, (int)f->type);
	return NULL;
}

/* Is a singular field present in m? */
static bool present(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
	const char *base = (const char *)m;
	const void *member = base + f->offset;
	if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
		return *(const uint32_t *)(base + f->quantifier_offset) == f->id;
	if (f->label == PROTOBUF_C_LABEL_REQUIRED)
		return true;
	if (f->type == PROTOBUF_C_TYPE_MESSAGE || f->type == PROTOBUF_C_TYPE_STRING) {
		const void *ptr = *(const void *const *)member;
		if (f->label == PROTOBUF_C_LABEL_OPTIONAL)
			return ptr && ptr != f->default_value;
		/* proto3 implicit presence: a string only when non-empty */
		return ptr && (f->type == PROTOBUF_C_TYPE_MESSAGE || *(const char *)ptr);
	}
	if (f->label == PROTOBUF_C_LABEL_OPTIONAL)
		return *(const protobuf_c_boolean *)(base + f->quantifier_offset);
	/* proto3 implicit presence: not the zero value */
	if (f->type == PROTOBUF_C_TYPE_BYTES)
		return ((const ProtobufCBinaryData *)member)->len > 0;
	static const uint8_t zero[16];
	return memcmp(member, zero, elt_size(f->type)) != 0;
}

static json_t *message_json(const ProtobufCMessage *m, int depth, struct wr_err *err)
{
	if (depth > MAX_DEPTH) {
		wr_err_set(err, EINVAL, "message nested deeper than %d", MAX_DEPTH);
		return NULL;
	}
	const ProtobufCMessageDescriptor *d = m->descriptor;
	cleanup_json json_t *o = json_object();
	const char *base = (const char *)m;
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		char name[128];
		json_name(f->name, name, sizeof(name));
		cleanup_json json_t *v = NULL;
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n = *(const size_t *)(base + f->quantifier_offset);
			const char *arr = *(char *const *)(base + f->offset);
			if (n == 0)
				continue;
			bool map =
				f->type == PROTOBUF_C_TYPE_MESSAGE && is_map_entry(f->descriptor);
			v = map ? json_object() : json_array();
			for (size_t k = 0; k < n; k++) {
				const void *elt = arr + k * elt_size(f->type);
				if (map) {
					const ProtobufCMessage *e = *(ProtobufCMessage *const *)elt;
					const ProtobufCMessageDescriptor *ed = e->descriptor;
					cleanup_json json_t *key =
						value_json(&ed->fields[0],
							   (const char *)e + ed->fields[0].offset,
							   depth + 1, err);
					cleanup_json json_t *val =
						value_json(&ed->fields[1],
							   (const char *)e + ed->fields[1].offset,
							   depth + 1, err);
					if (!key || !val)
						return NULL;
					const char *ks =
						json_is_string(key) ? json_string_value(key) : NULL;
					char kb[32];
					if (!ks) {
						snprintf(kb, sizeof(kb), "%" JSON_INTEGER_FORMAT,
							 json_integer_value(key));
						ks = kb;
					}
					json_object_set_new(v, ks, TAKE_PTR(val));
				} else {
					json_t *x = value_json(f, elt, depth, err);
					if (!x)
						return NULL;
					json_array_append_new(v, x);
				}
			}
		} else {
			if (!present(m, f))
				continue;
			v = value_json(f, base + f->offset, depth, err);
			if (!v)
				return NULL;
		}
		json_object_set_new(o, name, TAKE_PTR(v));
	}
	return TAKE_PTR(o);
}

int connect_proto_to_json(const ProtobufCMessageDescriptor *desc, const uint8_t *buf, size_t len,
			  json_t **ret, struct wr_err *err)
{
	ProtobufCMessage *m = protobuf_c_message_unpack(desc, NULL, len, buf);
	if (!m)
		return wr_err_set(err, EINVAL, "invalid protobuf message (%s)", desc->name);
	json_t *j = message_json(m, 0, err);
	protobuf_c_message_free_unpacked(m, NULL);
	if (!j)
		return -EINVAL;
	*ret = j;
	return 0;
}

/* ------------------------------------------------------------ JSON -> protobuf */

/* Everything a message under construction points to; freed in one go after packing. */
struct arena {
	void **p;
	size_t n, cap;
};

static void *arena_alloc(struct arena *a, size_t size)
{
	if (a->n == a->cap) {
		a->cap = a->cap ? 2 * a->cap : 32;
		a->p = xrealloc(a->p, a->cap * sizeof(*a->p));
	}
	return a->p[a->n++] = xcalloc(1, size ? size : 1);
}

static void arena_free(struct arena *a)
{
	for (size_t i = 0; i < a->n; i++)
		free(a->p[i]);
	free(a->p);
}

static int build_message(const ProtobufCMessageDescriptor *d, const json_t *obj, struct arena *a,
			 int depth, const char *path, ProtobufCMessage **ret, struct wr_err *err);

static int json_int(const json_t *v, int64_t lo, int64_t hi, int64_t *ret)
{
	int64_t n;
	if (json_is_integer(v)) {
		n = json_integer_value(v);
	} else if (json_is_string(v)) {
		const char *s = json_string_value(v);
		char *end;
		errno = 0;
		long long x = strtoll(s, &end, 10);
		if (errno || end == s || *end)
			return -EINVAL;
		n = x;
	} else {
		return -EINVAL;
	}
	if (n < lo || n > hi)
		return -ERANGE;
	*ret = n;
	return 0;
}

static int json_uint64(const json_t *v, uint64_t *ret)
{
	if (json_is_integer(v)) {
		if (json_integer_value(v) < 0)
			return -ERANGE;
		*ret = (uint64_t)json_integer_value(v);
		return 0;
	}
	if (!json_is_string(v))
		return -EINVAL;
	const char *s = json_string_value(v);
	char *end;
	errno = 0;
	if (*s == '-')
		return -ERANGE;
	unsigned long long x = strtoull(s, &end, 10);
	if (errno || end == s || *end)
		return -EINVAL;
	*ret = x;
	return 0;
}

static int json_double(const json_t *v, double *ret)
{
	if (json_is_number(v)) {
		*ret = json_number_value(v);
		return 0;
	}
	const char *s = json_string_value(v);
	if (!s)
		return -EINVAL;
	if (!strcmp(s, "NaN"))
		*ret = NAN;
	else if (!strcmp(s, "Infinity"))
		*ret = INFINITY;
	else if (!strcmp(s, "-Infinity"))
		*ret = -INFINITY;
	else
		return -EINVAL;
	return 0;
}

/* One value of field f from JSON v into dst (the field's storage, or one array element). */
static int set_value(const ProtobufCFieldDescriptor *f, const json_t *v, void *dst, struct arena *a,
		     int depth, const char *path, struct wr_err *err)
{
	int64_t n = 0;
	int r = 0;
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		r = json_int(v, INT32_MIN, INT32_MAX, &n);
		if (r == 0)
			*(int32_t *)dst = (int32_t)n;
		break;
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		r = json_int(v, 0, UINT32_MAX, &n);
		if (r == 0)
			*(uint32_t *)dst = (uint32_t)n;
		break;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		r = json_int(v, INT64_MIN, INT64_MAX, &n);
		if (r == 0)
			*(int64_t *)dst = n;
		break;
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		r = json_uint64(v, (uint64_t *)dst);
		break;
	case PROTOBUF_C_TYPE_FLOAT: {
		double d = 0;
		r = json_double(v, &d);
		if (r == 0)
			*(float *)dst = (float)d;
		break;
	}
	case PROTOBUF_C_TYPE_DOUBLE:
		r = json_double(v, (double *)dst);
		break;
	case PROTOBUF_C_TYPE_BOOL:
		if (!json_is_boolean(v))
			return wr_err_set(err, EINVAL, "%s: want a boolean", path);
		*(protobuf_c_boolean *)dst = json_is_true(v);
		break;
	case PROTOBUF_C_TYPE_ENUM: {
		const ProtobufCEnumDescriptor *ed = f->descriptor;
		if (json_is_string(v)) {
			const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value_by_name(
				ed, json_string_value(v));
			if (!ev)
				return wr_err_set(err, EINVAL, "%s: %s is not a value of %s", path,
						  json_string_value(v), ed->name);
			*(int *)dst = ev->value;
		} else {
			r = json_int(v, INT32_MIN, INT32_MAX, &n);
			if (r == 0)
				*(int *)dst = (int)n;
		}
		break;
	}
	case PROTOBUF_C_TYPE_STRING: {
		if (!json_is_string(v))
			return wr_err_set(err, EINVAL, "%s: want a string", path);
		size_t l = json_string_length(v);
		if (memchr(json_string_value(v), 0, l))
			return wr_err_set(err, EINVAL, "%s: string holds a NUL character", path);
		char *s = arena_alloc(a, l + 1);
		memcpy(s, json_string_value(v), l);
		*(char **)dst = s;
		break;
	}
	case PROTOBUF_C_TYPE_BYTES: {
		if (!json_is_string(v))
			return wr_err_set(err, EINVAL, "%s: want a base64 string", path);
		cleanup_free uint8_t *raw = NULL;
		size_t l = 0;
		if (base64_decode(json_string_value(v), &raw, &l) < 0)
			return wr_err_set(err, EINVAL, "%s: invalid base64", path);
		uint8_t *b = arena_alloc(a, l);
		if (l)
			memcpy(b, raw, l);
		((ProtobufCBinaryData *)dst)->data = b;
		((ProtobufCBinaryData *)dst)->len = l;
		break;
	}
	case PROTOBUF_C_TYPE_MESSAGE: {
		const ProtobufCMessageDescriptor *md = f->descriptor;
		if (is_timestamp(md)) {
			int64_t sec;
			int32_t ns;
			if (!json_is_string(v) ||
			    timestamp_parse(json_string_value(v), &sec, &ns) < 0)
				return wr_err_set(err, EINVAL, "%s: want an RFC 3339 timestamp",
						  path);
			ProtobufCMessage *t = arena_alloc(a, md->sizeof_message);
			protobuf_c_message_init(md, t);
			for (unsigned i = 0; i < md->n_fields; i++) {
				const ProtobufCFieldDescriptor *tf = &md->fields[i];
				char *tb = (char *)t;
				if (tf->id == 1)
					memcpy(tb + tf->offset, &sec, sizeof(sec));
				else if (tf->id == 2)
					memcpy(tb + tf->offset, &ns, sizeof(ns));
				else
					continue;
				if (tf->label == PROTOBUF_C_LABEL_OPTIONAL)
					*(protobuf_c_boolean *)(tb + tf->quantifier_offset) = 1;
			}
			*(ProtobufCMessage **)dst = t;
			break;
		}
		ProtobufCMessage *sub = NULL;
		r = build_message(md, v, a, depth + 1, path, &sub, err);
		if (r < 0)
			return r;
		*(ProtobufCMessage **)dst = sub;
		break;
	}
	default:
		return wr_err_set(err, EINVAL, "%s: unsupported field type %d", path, (int)f->type);
	}
	if (r == -ERANGE)
		return wr_err_set(err, EINVAL, "%s: value out of range", path);
	if (r < 0)
		return wr_err_set(err, EINVAL, "%s: want a number", path);
	return 0;
}

static const ProtobufCFieldDescriptor *field_by_json_name(const ProtobufCMessageDescriptor *d,
							  const char *key)
{
	for (unsigned i = 0; i < d->n_fields; i++) {
		char name[128];
		json_name(d->fields[i].name, name, sizeof(name));
		if (!strcmp(name, key) || !strcmp(d->fields[i].name, key))
			return &d->fields[i];
	}
	return NULL;
}

static int set_map(const ProtobufCFieldDescriptor *f, const json_t *v, char *base, struct arena *a,
		   int depth, const char *path, struct wr_err *err)
{
	const ProtobufCMessageDescriptor *ed = f->descriptor;
	if (!json_is_object(v))
		return wr_err_set(err, EINVAL, "%s: want an object (map)", path);
	size_t n = json_object_size(v);
	ProtobufCMessage **arr = arena_alloc(a, n * sizeof(*arr));
	size_t i = 0;
	const char *k;
	json_t *x;
	json_object_foreach((json_t *)v, k, x)
	{
		char sub[256];
		path_join(sub, sizeof(sub), path, k);
		ProtobufCMessage *e = arena_alloc(a, ed->sizeof_message);
		protobuf_c_message_init(ed, e);
		char *eb = (char *)e;
		cleanup_json json_t *key = json_string(k);
		int r = set_value(&ed->fields[0], key, eb + ed->fields[0].offset, a, depth, sub,
				  err);
		if (r == 0)
			r = set_value(&ed->fields[1], x, eb + ed->fields[1].offset, a, depth, sub,
				      err);
		if (r < 0)
			return r;
		for (unsigned j = 0; j < 2; j++)
			if (ed->fields[j].label == PROTOBUF_C_LABEL_OPTIONAL &&
			    ed->fields[j].type != PROTOBUF_C_TYPE_STRING &&
			    ed->fields[j].type != PROTOBUF_C_TYPE_MESSAGE)
				*(protobuf_c_boolean *)(eb + ed->fields[j].quantifier_offset) = 1;
		arr[i++] = e;
	}
	*(size_t *)(base + f->quantifier_offset) = n;
	*(ProtobufCMessage ***)(base + f->offset) = arr;
	return 0;
}

static int build_message(const ProtobufCMessageDescriptor *d, const json_t *obj, struct arena *a,
			 int depth, const char *path, ProtobufCMessage **ret, struct wr_err *err)
{
	if (depth > MAX_DEPTH)
		return wr_err_set(err, EINVAL, "%s: nested deeper than %d", path, MAX_DEPTH);
	if (!json_is_object(obj))
		return wr_err_set(err, EINVAL, "%s%swant an object (%s)", path, *path ? ": " : "",
				  d->name);
	ProtobufCMessage *m = arena_alloc(a, d->sizeof_message);
	protobuf_c_message_init(d, m);
	char *base = (char *)m;
	const char *key;
	json_t *v;
	json_object_foreach((json_t *)obj, key, v)
	{
		char sub[256];
		path_join(sub, sizeof(sub), path, key);
		const ProtobufCFieldDescriptor *f = field_by_json_name(d, key);
		if (!f)
			return wr_err_set(err, EINVAL, "%s: no such field in %s", sub, d->name);
		if (json_is_null(v))
			continue;
		int r;
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			if (f->type == PROTOBUF_C_TYPE_MESSAGE && is_map_entry(f->descriptor)) {
				r = set_map(f, v, base, a, depth, sub, err);
				if (r < 0)
					return r;
				continue;
			}
			if (!json_is_array(v))
				return wr_err_set(err, EINVAL, "%s: want an array", sub);
			size_t n = json_array_size(v);
			size_t es = elt_size(f->type);
			char *arr = arena_alloc(a, n * es);
			for (size_t i = 0; i < n; i++) {
				char el[280], idx[32];
				snprintf(idx, sizeof(idx), "[%zu]", i);
				path_join(el, sizeof(el), sub, idx);
				r = set_value(f, json_array_get(v, i), arr + i * es, a, depth, el,
					      err);
				if (r < 0)
					return r;
			}
			*(size_t *)(base + f->quantifier_offset) = n;
			*(char **)(base + f->offset) = arr;
			continue;
		}
		if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
			uint32_t *cas = (uint32_t *)(base + f->quantifier_offset);
			if (*cas)
				return wr_err_set(err, EINVAL,
						  "%s: another member of its oneof is set", sub);
			*cas = f->id;
		}
		r = set_value(f, v, base + f->offset, a, depth, sub, err);
		if (r < 0)
			return r;
		if (!(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
		    f->label == PROTOBUF_C_LABEL_OPTIONAL && f->type != PROTOBUF_C_TYPE_STRING &&
		    f->type != PROTOBUF_C_TYPE_MESSAGE)
			*(protobuf_c_boolean *)(base + f->quantifier_offset) = 1;
	}
	*ret = m;
	return 0;
}

int connect_proto_from_json(const ProtobufCMessageDescriptor *desc, const json_t *msg,
			    uint8_t **ret, size_t *ret_len, struct wr_err *err)
{
	struct arena a = {0};
	ProtobufCMessage *m = NULL;
	int r = build_message(desc, msg, &a, 0, "", &m, err);
	if (r < 0) {
		arena_free(&a);
		return r;
	}
	size_t n = protobuf_c_message_get_packed_size(m);
	uint8_t *buf = xmalloc(n ? n : 1);
	size_t w = protobuf_c_message_pack(m, buf);
	arena_free(&a);
	if (w != n) {
		free(buf);
		return wr_err_set(err, EIO, "protobuf packing of %s wrote %zu of %zu bytes",
				  desc->name, w, n);
	}
	*ret = buf;
	*ret_len = n;
	return 0;
}

/* ------------------------------------------------------------------ the codec */

static int codec_decode(const void *type, const uint8_t *buf, size_t len, json_t **ret,
			struct wr_err *err)
{
	return connect_proto_to_json(type, buf, len, ret, err);
}

static int codec_encode(const void *type, const json_t *msg, uint8_t **ret, size_t *ret_len,
			struct wr_err *err)
{
	return connect_proto_from_json(type, msg, ret, ret_len, err);
}

const struct connect_codec connect_proto_codec = {
	.name = "proto",
	.decode = codec_decode,
	.encode = codec_encode,
};
