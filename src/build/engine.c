/* SPDX-License-Identifier: MIT */
/*
 * The build engine: requests, validation, the build thread (steps through envd, start + ready
 * command, trim, /init defaults), publishing, the end-state cache and the crash sweep.
 */
#include "build/build-internal.h"

#include "basic/cleanup-json.h"
#include "basic/cleanup.h"
#include "basic/fdio.h"
#include "basic/log.h"
#include "basic/xalloc.h"
#include "build/oci.h"

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define MAX_LOG_ENTRIES 20000
#define TAIL_LINES 10
#define READY_TIMEOUT_MS (5 * 60 * 1000)
#define DEFAULT_READY_WAIT_S 20 /* no readyCmd: as the SDK's waitForTimeout(20000) for CMD */
#define NAME_MAX_LEN 50		/* + ".b" + 8 stays within a template name's 63 */

struct build_log {
	int64_t ts;
	const char *level; /* static */
	char *msg;
	char *step; /* NULL = none */
};

struct build_run {
	char id[BUILD_ID_LEN + 1];
	char *template_id;
	char *tag; /* from name:tag, NULL = none */
	json_t *tags;
	char *target;
	int vcpus, memory_mb;
	/* under e->lock */
	const char *status; /* static: waiting|building|ready|error */
	struct build_log *logs;
	size_t nlogs;
	char *reason, *reason_step;
	json_t *reason_logs;
	int64_t requested_at;
	/* the thread's */
	struct build_engine *e;
	json_t *body;
	char *from;
	char *image_ref, *image_user, *image_pass; /* fromImage (+ registry credentials) */
	json_t *image_config;			   /* its Env/WorkingDir/User/Cmd/Entrypoint */
	char *cache_key;
	bool force;	   /* the build's force: no cache at all */
	size_t force_from; /* first step (1-based) with force: the step cache ends before it */
	/* step cache: keys[0] the base's, keys[i] after step i; the restored prefix */
	char **keys;
	size_t resume;
	json_t *resume_state;
	bool cache_locked; /* holds e->cache_lock until the build VM exists */
	json_t *env;
	char *user, *workdir;
	size_t nsteps;
	char *cur_step;
	char *tail[TAIL_LINES];
	size_t ntail;
};

static const char *const levels[] = {"debug", "info", "warn", "error"};

static int level_rank(const char *l)
{
	for (size_t i = 0; i < ARRAY_SIZE(levels); i++)
		if (l && !strcmp(l, levels[i]))
			return (int)i;
	return -1;
}

static void run_free(struct build_run *b)
{
	if (!b)
		return;
	free(b->template_id);
	free(b->tag);
	json_decref(b->tags);
	free(b->target);
	for (size_t i = 0; i < b->nlogs; i++) {
		free(b->logs[i].msg);
		free(b->logs[i].step);
	}
	free(b->logs);
	free(b->reason);
	free(b->reason_step);
	json_decref(b->reason_logs);
	json_decref(b->body);
	free(b->from);
	free(b->image_ref);
	free(b->image_user);
	free(b->image_pass);
	json_decref(b->image_config);
	free(b->cache_key);
	for (size_t i = 0; b->keys && i <= b->nsteps; i++)
		free(b->keys[i]);
	free(b->keys);
	json_decref(b->resume_state);
	json_decref(b->env);
	free(b->user);
	free(b->workdir);
	free(b->cur_step);
	for (size_t i = 0; i < b->ntail; i++)
		free(b->tail[i]);
	free(b);
}

static void iso_time(int64_t ms, char out[40])
{
	time_t s = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&s, &tm);
	size_t n = strftime(out, 40, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + n, 40 - n, ".%03dZ", (int)(ms % 1000));
}

static void blog(struct build_run *b, const char *level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void blog(struct build_run *b, const char *level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *msg = NULL;
	if (vasprintf(&msg, fmt, ap) < 0)
		abort();
	va_end(ap);
	struct build_engine *e = b->e;
	pthread_mutex_lock(&e->lock);
	if (b->nlogs < MAX_LOG_ENTRIES) {
		b->logs = xrealloc(b->logs, (b->nlogs + 1) * sizeof(*b->logs));
		b->logs[b->nlogs++] = (struct build_log){
			.ts = build_now_ms(),
			.level = level,
			.msg = msg,
			.step = b->cur_step ? xstrdup(b->cur_step) : NULL,
		};
		msg = NULL;
	}
	pthread_mutex_unlock(&e->lock);
	free(msg);
}

static void tail_add(struct build_run *b, const char *line)
{
	if (b->ntail == TAIL_LINES) {
		free(b->tail[0]);
		memmove(b->tail, b->tail + 1, (TAIL_LINES - 1) * sizeof(char *));
		b->ntail--;
	}
	b->tail[b->ntail++] = xstrdup(line);
}

static void tail_clear(struct build_run *b)
{
	for (size_t i = 0; i < b->ntail; i++)
		free(b->tail[i]);
	b->ntail = 0;
}

static void on_line(void *ud, const char *line, bool is_err)
{
	struct build_run *b = ud;
	tail_add(b, line);
	blog(b, is_err ? "warn" : "info", "%s", line);
}

/* --- registry --------------------------------------------------------------------------------- */

static void mint_uuid(char out[BUILD_ID_LEN + 1])
{
	unsigned char r[16];
	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
		abort();
	r[6] = (r[6] & 0x0f) | 0x40;
	r[8] = (r[8] & 0x3f) | 0x80;
	snprintf(out, BUILD_ID_LEN + 1,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", r[0], r[1],
		 r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12], r[13], r[14],
		 r[15]);
}

/* under e->lock */
static struct build_run *find_run(struct build_engine *e, const char *id)
{
	for (size_t i = 0; i < e->nruns; i++)
		if (!strcmp(e->runs[i]->id, id))
			return e->runs[i];
	return NULL;
}

/* under e->lock: a waiting (recent) or building run of this name */
static struct build_run *active_run(struct build_engine *e, const char *template_id)
{
	int64_t now = build_now_ms();
	for (size_t i = 0; i < e->nruns; i++) {
		struct build_run *b = e->runs[i];
		if (strcmp(b->template_id, template_id))
			continue;
		if (!strcmp(b->status, "building"))
			return b;
		/* a requested build nobody started within 10 minutes no longer blocks the name */
		if (!strcmp(b->status, "waiting") && now - b->requested_at < 10 * 60 * 1000)
			return b;
	}
	return NULL;
}

static void row_of(const struct build_run *b, struct store_build *row)
{
	*row = (struct store_build){
		.id = (char *)b->id,
		.template_id = b->template_id,
		.status = (char *)b->status,
		.reason = b->reason,
		.step = b->reason_step,
		.target = b->target,
		.cache_key = b->cache_key,
		.vcpus = b->vcpus,
		.memory_mb = b->memory_mb,
		.created_at = b->requested_at,
	};
}

static void persist(struct build_run *b, const char *sandbox_id)
{
	struct store_build row;
	pthread_mutex_lock(&b->e->lock);
	row_of(b, &row);
	row.sandbox_id = (char *)sandbox_id;
	if (!strcmp(b->status, "ready") || !strcmp(b->status, "error"))
		row.finished_at = build_now_ms();
	struct wr_err err = {0};
	int r = store_build_put(b->e->st, &row, &err);
	pthread_mutex_unlock(&b->e->lock);
	if (r < 0)
		log_warn("build %s: %s", b->id, wr_err_msg(&err));
}

static bool name_ok(const char *n)
{
	size_t l = n ? strlen(n) : 0;
	if (!l || l > NAME_MAX_LEN || n[0] == '.' || n[0] == '-')
		return false;
	for (const char *c = n; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-' ||
		      *c == '_' || *c == '.'))
			return false;
	return true;
}

static bool tag_ok(const char *t)
{
	return name_ok(t);
}

int build_request(struct build_engine *e, const char *name, int vcpus, int memory_mb,
		  char **ret_template_id, char **ret_build_id, struct wr_err *err)
{
	if (!name || !*name)
		return wr_err_set(err, EINVAL, "name is required");
	cleanup_free char *tid = xstrdup(name);
	char *colon = strchr(tid, ':');
	cleanup_free char *tag = NULL;
	if (colon) {
		*colon = 0;
		tag = xstrdup(colon + 1);
		if (!tag_ok(tag))
			return wr_err_set(err, EINVAL, "invalid tag \"%s\"", tag);
	}
	if (!name_ok(tid))
		return wr_err_set(
			err, EINVAL,
			"invalid template name \"%s\": 1..%d of [a-z0-9._-], not starting "
			"with '.' or '-'",
			tid, NAME_MAX_LEN);
	/* the built-in names and existing non-built templates cannot be replaced */
	struct store_template t = {0};
	if (!strcmp(tid, "base") || store_template_get(e->st, tid, &t, NULL) == 0) {
		store_template_done(&t);
		return wr_err_set(err, EEXIST,
				  "template name \"%s\" is taken by a template that "
				  "was not built (built-in or snapshot)",
				  tid);
	}
	if (vcpus < 0 || vcpus > 64)
		return wr_err_set(err, EINVAL, "cpuCount %d out of range 1..64", vcpus);
	if (memory_mb && memory_mb < RUNTIME_MIN_MEMORY_MB)
		return wr_err_set(err, EINVAL, "memoryMB %d is below %d", memory_mb,
				  RUNTIME_MIN_MEMORY_MB);
	struct build_run *b = xcalloc(1, sizeof(*b));
	b->e = e;
	mint_uuid(b->id);
	b->template_id = xstrdup(tid);
	b->tag = TAKE_PTR(tag);
	b->vcpus = vcpus;
	b->memory_mb = memory_mb;
	b->status = "waiting";
	b->requested_at = build_now_ms();
	b->tags = json_array();
	pthread_mutex_lock(&e->lock);
	struct build_run *other = active_run(e, tid);
	if (other || e->closing) {
		pthread_mutex_unlock(&e->lock);
		int r = e->closing ? wr_err_set(err, ESHUTDOWN, "the agent is stopping")
				   : wr_err_set(err, EBUSY,
						"template %s has a build in progress (%s, %s)", tid,
						other->id, other->status);
		run_free(b);
		return r;
	}
	e->runs = xrealloc(e->runs, (e->nruns + 1) * sizeof(*e->runs));
	e->runs[e->nruns++] = b;
	pthread_mutex_unlock(&e->lock);
	persist(b, NULL);
	*ret_template_id = xstrdup(tid);
	*ret_build_id = xstrdup(b->id);
	return 0;
}

void build_set_tags(struct build_engine *e, const char *build_id, const json_t *tags)
{
	pthread_mutex_lock(&e->lock);
	struct build_run *b = find_run(e, build_id);
	size_t i;
	json_t *t;
	if (b)
		json_array_foreach(tags, i,
				   t) if (json_is_string(t) && tag_ok(json_string_value(t)) &&
					  (!b->tag || strcmp(b->tag, json_string_value(t))))
			json_array_append(b->tags, t);
	pthread_mutex_unlock(&e->lock);
}

void build_abandon(struct build_engine *e, const char *build_id)
{
	pthread_mutex_lock(&e->lock);
	struct build_run *b = find_run(e, build_id);
	bool mine = b && !strcmp(b->status, "waiting");
	if (mine) {
		b->status = "error";
		free(b->reason);
		b->reason = xstrdup("the build request was refused before it started");
	}
	pthread_mutex_unlock(&e->lock);
	if (mine)
		persist(b, NULL);
}

/* --- validation ------------------------------------------------------------------------------- */

static int check_keys(const json_t *o, const char *const *known, const char *what,
		      struct wr_err *err)
{
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)o, k, v)
	{
		bool ok = false;
		for (size_t i = 0; known[i]; i++)
			ok |= !strcmp(k, known[i]);
		if (!ok)
			return wr_err_set(err, EINVAL, "%s: field \"%s\" is not supported", what,
					  k);
	}
	return 0;
}

static int validate(struct build_engine *e, struct build_run *b, const json_t *body,
		    struct wr_err *err)
{
	if (!json_is_object(body))
		return wr_err_set(err, EINVAL, "body must be a JSON object");
	static const char *const top[] = {"fromTemplate", "fromImage", "fromImageRegistry",
					  "steps",	  "startCmd",  "readyCmd",
					  "force",	  NULL};
	int r = check_keys(body, top, "build", err);
	if (r < 0)
		return r;
	json_t *ft = json_object_get(body, "fromTemplate"),
	       *fi = json_object_get(body, "fromImage");
	bool has_t = json_is_string(ft) && *json_string_value(ft);
	bool has_i = json_is_string(fi) && *json_string_value(fi);
	if ((ft && !json_is_string(ft)) || (fi && !json_is_string(fi)))
		return wr_err_set(err, EINVAL, "fromTemplate/fromImage must be strings");
	if (has_t == has_i)
		return wr_err_set(err, EINVAL,
				  "exactly one of fromTemplate or fromImage must be given");
	json_t *reg = json_object_get(body, "fromImageRegistry");
	if (reg && !has_i)
		return wr_err_set(err, EINVAL, "fromImageRegistry needs fromImage");
	cleanup_free char *from = NULL;
	if (has_i) {
		if (!e->guest_bins_dir)
			return wr_err_set(err, ENOTSUP,
					  "fromImage: this agent has no static guest binaries "
					  "(envd, wrenn-init) to inject into images");
		const char *type = json_string_value(json_object_get(reg, "type"));
		if (reg && (!json_is_object(reg) || (type && strcmp(type, "registry"))))
			return wr_err_set(
				err, ENOTSUP,
				"fromImageRegistry type \"%s\" is not supported (AWS/GCP "
				"registries): use type \"registry\" with username and password",
				type ? type : "?");
		free(b->image_ref);
		b->image_ref = xstrdup(json_string_value(fi));
		const char *u = json_string_value(json_object_get(reg, "username"));
		const char *pw = json_string_value(json_object_get(reg, "password"));
		b->image_user = u ? xstrdup(u) : NULL;
		b->image_pass = pw ? xstrdup(pw) : NULL;
		from = xasprintf("image %s", b->image_ref);
	} else {
		struct wr_err e2 = {0};
		r = runtime_template_resolve(e->rt, json_string_value(ft), &from, &e2);
		if (r < 0)
			return wr_err_set(err, EINVAL, "fromTemplate: %s", wr_err_msg(&e2));
	}
	for (const char *k = "startCmd"; k; k = strcmp(k, "startCmd") ? NULL : "readyCmd") {
		json_t *v = json_object_get(body, k);
		if (v && !json_is_string(v) && !json_is_null(v))
			return wr_err_set(err, EINVAL, "%s must be a string", k);
	}
	json_t *force = json_object_get(body, "force");
	if (force && !json_is_boolean(force))
		return wr_err_set(err, EINVAL, "force must be a boolean");
	b->force = json_is_true(force);
	json_t *steps = json_object_get(body, "steps");
	if (steps && !json_is_array(steps) && !json_is_null(steps))
		return wr_err_set(err, EINVAL, "steps must be an array");
	size_t i;
	json_t *s;
	static const char *const skeys[] = {"type",  "args",	    "filesHash",
					    "force", "forceUpload", "resolveSymlinks",
					    "gzip",  NULL};
	json_array_foreach(steps, i, s)
	{
		char what[32];
		snprintf(what, sizeof(what), "step %zu", i + 1);
		if (!json_is_object(s))
			return wr_err_set(err, EINVAL, "%s: must be an object", what);
		if ((r = check_keys(s, skeys, what, err)) < 0)
			return r;
		const char *type = json_string_value(json_object_get(s, "type"));
		json_t *args = json_object_get(s, "args");
		if (!type)
			return wr_err_set(err, EINVAL, "%s: type is required", what);
		if (args && !json_is_array(args))
			return wr_err_set(err, EINVAL, "%s: args must be an array", what);
		size_t na = json_array_size(args), j;
		json_t *a;
		json_array_foreach(args, j, a) if (!json_is_string(a)) return wr_err_set(
			err, EINVAL, "%s: args must be strings", what);
#define ARG(n) (json_string_value(json_array_get(args, n)))
		if (json_is_true(json_object_get(s, "force")) && !b->force_from)
			b->force_from = i + 1;
		if (!strcmp(type, "RUN")) {
			if (na < 1 || na > 2 || !*ARG(0))
				return wr_err_set(err, EINVAL, "%s: RUN takes [command, user?]",
						  what);
		} else if (!strcmp(type, "ENV")) {
			if (na == 0 || na % 2)
				return wr_err_set(err, EINVAL, "%s: ENV takes key, value pairs",
						  what);
			for (j = 0; j < na; j += 2)
				if (!*ARG(j) || strchr(ARG(j), '='))
					return wr_err_set(err, EINVAL,
							  "%s: invalid ENV name \"%s\"", what,
							  ARG(j));
		} else if (!strcmp(type, "WORKDIR") || !strcmp(type, "USER")) {
			if (na != 1 || !*ARG(0))
				return wr_err_set(err, EINVAL, "%s: %s takes one argument", what,
						  type);
		} else if (!strcmp(type, "COPY")) {
			const char *h = json_string_value(json_object_get(s, "filesHash"));
			if (na < 2 || !*ARG(0) || !*ARG(1))
				return wr_err_set(err, EINVAL,
						  "%s: COPY takes [src, dest, user?, mode?]", what);
			if (na > 3 && *ARG(3) && strspn(ARG(3), "01234567") != strlen(ARG(3)))
				return wr_err_set(err, EINVAL, "%s: COPY mode \"%s\" is not octal",
						  what, ARG(3));
			if (!h)
				return wr_err_set(err, EINVAL, "%s: COPY needs filesHash", what);
			if (!build_files_present(e, h))
				return wr_err_set(err, EINVAL,
						  "%s: files %s were not uploaded "
						  "(GET /templates/{id}/files/{hash} first)",
						  what, h);
		} else {
			return wr_err_set(err, EINVAL,
					  "%s: step type \"%s\" is not supported (RUN, COPY, ENV, "
					  "WORKDIR, USER)",
					  what, type);
		}
#undef ARG
	}
	b->from = TAKE_PTR(from);
	b->nsteps = json_array_size(steps);
	return 0;
}

static char *cache_key(const struct build_run *b)
{
	cleanup_json json_t *steps = json_array();
	size_t i;
	json_t *s;
	json_array_foreach(json_object_get(b->body, "steps"), i, s)
	{
		json_t *c = json_object();
		json_object_set(c, "type", json_object_get(s, "type"));
		json_object_set_new(c, "args",
				    json_object_get(s, "args")
					    ? json_deep_copy(json_object_get(s, "args"))
					    : json_array());
		if (json_object_get(s, "filesHash"))
			json_object_set(c, "filesHash", json_object_get(s, "filesHash"));
		json_array_append_new(steps, c);
	}
	cleanup_json json_t *k =
		json_pack("{s:s, s:o, s:i, s:i}", "from", b->from, "steps", TAKE_PTR(steps),
			  "vcpus", b->vcpus, "memoryMB", b->memory_mb);
	json_t *sc = json_object_get(b->body, "startCmd"),
	       *rc = json_object_get(b->body, "readyCmd");
	if (json_is_string(sc))
		json_object_set(k, "startCmd", sc);
	if (json_is_string(rc))
		json_object_set(k, "readyCmd", rc);
	/* the base itself: a rebuilt base changes every key built on it */
	struct store_alias al = {0};
	if (store_alias_get(b->e->st, b->from, &al, NULL) == 0) {
		json_object_set_new(k, "fromBuild", json_string(al.build_id ? al.build_id : ""));
		store_alias_done(&al);
	}
	cleanup_free char *txt = json_dumps(k, JSON_COMPACT | JSON_SORT_KEYS);
	unsigned char md[32];
	unsigned int mdl = 0;
	EVP_Digest(txt, strlen(txt), md, &mdl, EVP_sha256(), NULL);
	char *hex = xmalloc(65);
	for (int j = 0; j < 32; j++)
		snprintf(hex + 2 * j, 3, "%02x", md[j]);
	return hex;
}

/* --- steps ------------------------------------------------------------------------------------ */

static char *step_text(const json_t *s)
{
	const char *type = json_string_value(json_object_get(s, "type"));
	json_t *args = json_object_get(s, "args");
	size_t n = json_array_size(args);
	char *out = xstrdup(type);
	if (!strcmp(type, "RUN") || !strcmp(type, "WORKDIR") || !strcmp(type, "USER")) {
		char *t = xasprintf("%s %s", out, json_string_value(json_array_get(args, 0)));
		free(out);
		return t;
	}
	for (size_t i = 0; i < n; i++) {
		const char *a = json_string_value(json_array_get(args, i));
		if (!strcmp(type, "COPY") && i >= 2)
			break;
		char *t = xasprintf("%s%s%s", out, !strcmp(type, "ENV") && i % 2 ? "=" : " ", a);
		free(out);
		out = t;
	}
	return out;
}

static char *abs_path(const char *workdir, const char *p)
{
	if (p[0] == '/')
		return xstrdup(p);
	if (!strcmp(p, "~") || !strncmp(p, "~/", 2))
		return xasprintf("$HOME%s", p + 1);
	return xasprintf("%s/%s", workdir && strcmp(workdir, "/") ? workdir : "", p);
}

static int run_as(struct build_run *b, const char *sid, const char *user, const char *cmd,
		  int timeout_ms, int *ret_exit, struct wr_err *err)
{
	struct build_exec x = {
		.cmd = cmd,
		.user = user,
		.cwd = b->workdir,
		.envs = b->env,
		.timeout_ms = timeout_ms,
		.line = on_line,
		.ud = b,
		.stop = &b->e->closing,
	};
	return build_exec_run(b->e->rt, sid, &x, ret_exit, err);
}

/* A command that must succeed as root (workdir/user/copy plumbing); its output is logged. */
static int root_cmd(struct build_run *b, const char *sid, const char *cmd, struct wr_err *err)
{
	int code = 0;
	int r = run_as(b, sid, "root", cmd, 10 * 60 * 1000, &code, err);
	if (r < 0)
		return r;
	if (code)
		return wr_err_set(err, EIO, "exit code %d", code);
	return 0;
}

static int step_copy(struct build_run *b, const char *sid, const json_t *s, struct wr_err *err)
{
	json_t *args = json_object_get(s, "args");
	const char *src = json_string_value(json_array_get(args, 0));
	const char *dest = json_string_value(json_array_get(args, 1));
	const char *owner = json_string_value(json_array_get(args, 2));
	const char *mode = json_string_value(json_array_get(args, 3));
	const char *hash = json_string_value(json_object_get(s, "filesHash"));
	if (!owner || !*owner)
		owner = b->user;
	cleanup_free char *local = build_files_path(b->e, hash);
	cleanup_free char *guest = xasprintf("/tmp/wrenn-copy-%.16s-%s.tar", hash, b->id);
	int r = build_exec_upload(b->e->rt, sid, local, guest, "root", err);
	if (r < 0)
		return r;
	/* strip a leading "./" so the archive member matches */
	while (!strncmp(src, "./", 2))
		src += 2;
	cleanup_free char *qsrc = build_shell_quote(src);
	cleanup_free char *d = abs_path(b->workdir, dest);
	/* $HOME of a "~" dest is the step user's home */
	cleanup_free char *qdest = !strncmp(d, "$HOME", 5) ? xasprintf("\"$(getent passwd %s | cut "
								       "-d: -f6)\"%s",
								       b->user, d + 5)
							   : build_shell_quote(d);
	bool dir_dest = dest[strlen(dest) - 1] == '/';
	cleanup_free char *qown = build_shell_quote(owner);
	cleanup_free char *qg = build_shell_quote(guest);
	cleanup_free char *script = xasprintf(
		"set -e\n"
		"t=$(mktemp -d /tmp/wrenn-copy.XXXXXX)\n"
		"trap 'rm -rf \"$t\" %s' EXIT\n"
		"tar -xf %s -C \"$t\"\n"
		"s=\"$t\"/%s\n"
		"dest=%s\n"
		"own=%s\n"
		"case \"$own\" in *:*) ;; *) own=\"$own:$(id -gn \"$own\")\" ;; esac\n"
		"if [ ! -e \"$s\" ] && [ ! -L \"$s\" ]; then echo \"COPY: %s is not in the uploaded "
		"files\" >&2; exit 1; fi\n"
		"if [ -d \"$s\" ] && [ ! -L \"$s\" ]; then\n"
		"  new=0; [ -d \"$dest\" ] || { mkdir -p \"$dest\"; new=1; }\n"
		"  cp -a \"$s\"/. \"$dest\"/\n"
		"  [ $new = 0 ] || chown \"$own\" \"$dest\"\n"
		"  (cd \"$s\" && find . -mindepth 1 -print0) | (cd \"$dest\" && xargs -0 -r chown -h "
		"\"$own\")\n"
		"  %s\n"
		"else\n"
		"  if [ %d = 1 ] || [ -d \"$dest\" ]; then mkdir -p \"$dest\"; "
		"tgt=\"$dest/$(basename \"$s\")\"; else mkdir -p \"$(dirname \"$dest\")\"; "
		"tgt=\"$dest\"; fi\n"
		"  cp -a \"$s\" \"$tgt\"\n"
		"  chown -h \"$own\" \"$tgt\"\n"
		"  %s\n"
		"fi\n",
		qg, qg, qsrc, qdest, qown, src,
		mode && *mode
			? "(cd \"$s\" && find . -mindepth 1 -print0) | (cd \"$dest\" && xargs "
			  "-0 -r chmod \"$mode\")"
			: ":",
		dir_dest ? 1 : 0, mode && *mode ? "chmod \"$mode\" \"$tgt\"" : ":");
	cleanup_free char *full =
		mode && *mode ? xasprintf("mode=%s\n%s", mode, script) : xstrdup(script);
	return root_cmd(b, sid, full, err);
}

static int step_run(struct build_run *b, const char *sid, size_t idx, const json_t *s,
		    struct wr_err *err)
{
	const char *type = json_string_value(json_object_get(s, "type"));
	json_t *args = json_object_get(s, "args");
	const char *a0 = json_string_value(json_array_get(args, 0));
	if (!strcmp(type, "ENV")) {
		for (size_t j = 0; j + 1 < json_array_size(args); j += 2)
			json_object_set(b->env, json_string_value(json_array_get(args, j)),
					json_array_get(args, j + 1));
		return 0;
	}
	if (!strcmp(type, "USER")) {
		cleanup_free char *q = build_shell_quote(a0);
		cleanup_free char *cmd = xasprintf("id -u %s >/dev/null", q);
		int r = root_cmd(b, sid, cmd, err);
		if (r < 0)
			return wr_err_set(err, EINVAL, "user \"%s\" does not exist in the image",
					  a0);
		free(b->user);
		b->user = xstrdup(a0);
		return 0;
	}
	if (!strcmp(type, "WORKDIR")) {
		cleanup_free char *p = abs_path(b->workdir, a0);
		if (!strncmp(p, "$HOME", 5))
			return wr_err_set(err, EINVAL, "WORKDIR must be an absolute path");
		cleanup_free char *q = build_shell_quote(p);
		cleanup_free char *qu = build_shell_quote(b->user);
		cleanup_free char *cmd =
			xasprintf("[ -d %s ] || { mkdir -p %s && chown %s: %s; }", q, q, qu, q);
		free(b->workdir);
		b->workdir = NULL; /* the old one may not matter; run in / */
		int r = root_cmd(b, sid, cmd, err);
		b->workdir = TAKE_PTR(p);
		return r;
	}
	if (!strcmp(type, "COPY"))
		return step_copy(b, sid, s, err);
	/* RUN */
	const char *user = json_string_value(json_array_get(args, 1));
	int code = 0;
	int r = run_as(b, sid, user && *user ? user : b->user, a0, 0, &code, err);
	if (r < 0)
		return r;
	if (code) {
		(void)idx;
		return wr_err_set(err, EIO, "exit code %d", code);
	}
	return 0;
}

static void fail_reason(struct build_run *b, const char *step, const char *msg)
{
	cleanup_json json_t *tail = json_array();
	int64_t now = build_now_ms();
	char ts[40];
	iso_time(now, ts);
	for (size_t i = 0; i < b->ntail; i++)
		json_array_append_new(tail, json_pack("{s:s, s:s, s:s}", "timestamp", ts, "level",
						      "error", "message", b->tail[i]));
	pthread_mutex_lock(&b->e->lock);
	free(b->reason);
	b->reason = xstrdup(msg);
	free(b->reason_step);
	b->reason_step = step ? xstrdup(step) : NULL;
	cleanup_json json_t *prev = b->reason_logs; /* released after the unlock */
	b->reason_logs = TAKE_PTR(tail);
	pthread_mutex_unlock(&b->e->lock);
}

static void record_sandbox(void *ud, const char *sandbox_id)
{
	struct build_run *b = ud;
	persist(b, sandbox_id);
	/* the build VM now uses the restored entry: eviction refuses it from here on */
	if (b->cache_locked) {
		b->cache_locked = false;
		pthread_mutex_unlock(&b->e->cache_lock);
	}
}

/* After step idx (1-based) succeeded: checkpoint the VM after RUN and COPY.  ENV and USER change
 * no VM state, WORKDIR only makes a directory: rerunning them after the previous checkpoint is
 * instant.  Best effort: a failed checkpoint only costs rebuild time. */
static void checkpoint(struct build_run *b, const char *sid, size_t idx, const json_t *s)
{
	const char *type = json_string_value(json_object_get(s, "type"));
	if (b->e->cache_max <= 0 || (strcmp(type, "RUN") && strcmp(type, "COPY")))
		return;
	cleanup_json json_t *state =
		json_pack("{s:O, s:s, s:s, s:I}", "env", b->env, "user", b->user, "workdir",
			  b->workdir ? b->workdir : "", "step", (json_int_t)idx);
	struct wr_err err = {0};
	int64_t t0 = build_now_ms();
	/* flushed here, without the runtime's short quiesce deadline */
	int code = 0;
	struct build_exec x = {.cmd = "sync", .user = "root", .timeout_ms = 120000};
	if (build_exec_run(b->e->rt, sid, &x, &code, &err) < 0)
		log_debug("build %s: sync before step %zu checkpoint: %s", b->id, idx,
			  wr_err_msg(&err));
	wr_err_clear(&err);
	if (build_cache_store(b->e, sid, b->keys[idx], state, &err) < 0)
		blog(b, "warn", "step %zu: not cached: %s", idx, wr_err_msg(&err));
	else
		blog(b, "debug", "step %zu checkpointed in %.1f s", idx,
		     (double)(build_now_ms() - t0) / 1000.0);
	/* The VM was paused for the capture: under load its guest may take a moment to answer
	 * again; the next step must not fail on that. */
	for (int i = 0; i < 12 && !atomic_load(&b->e->closing); i++) {
		struct build_exec t = {.cmd = "true", .user = "root", .timeout_ms = 30000};
		struct wr_err te = {0};
		if (build_exec_run(b->e->rt, sid, &t, &code, &te) == 0)
			break;
		log_debug("build %s: envd after the step %zu checkpoint: %s", b->id, idx,
			  wr_err_msg(&te));
		usleep(500 * 1000);
	}
}

static char *apply_image_config(struct build_run *b);

static void first_line(void *ud, const char *line, bool is_err)
{
	char **out = ud;
	if (!is_err && !*out && *line)
		*out = xstrdup(line);
}

/* An image's User may be "uid", "name:group" or "uid:gid" (OCI image spec); envd runs a process
 * as an account name, with that account's groups.  The group part is dropped and a uid becomes
 * the name /etc/passwd gives it in the guest; a uid without an account is an error naming it. */
static int image_user(struct build_run *b, const char *sid, struct wr_err *err)
{
	char *colon = strchr(b->user, ':');
	if (colon)
		*colon = '\0';
	if (!*b->user) {
		free(b->user);
		b->user = xstrdup("root");
	}
	if (strspn(b->user, "0123456789") != strlen(b->user))
		return 0;
	cleanup_free char *cmd =
		xasprintf("awk -F: -v u=%s '$3 == u { print $1; exit }' /etc/passwd", b->user);
	char *name = NULL;
	int code = 0;
	struct build_exec x = {.cmd = cmd,
			       .user = "root",
			       .timeout_ms = 60000,
			       .line = first_line,
			       .ud = &name,
			       .stop = &b->e->closing};
	int r = build_exec_run(b->e->rt, sid, &x, &code, err);
	if (r < 0)
		return r;
	if (code || !name) {
		free(name);
		return code ? wr_err_set(err, EINVAL,
					 "the image's user %s: looking it up in /etc/passwd failed "
					 "(exit code %d)",
					 b->user, code)
			    : wr_err_set(err, EINVAL,
					 "the image's user %s has no account in its /etc/passwd",
					 b->user);
	}
	blog(b, "info", "[base] USER %s is %s", b->user, name);
	free(b->user);
	b->user = name;
	return 0;
}

static int hook_run(struct runtime *rt, const char *sid, void *ud, struct wr_err *err)
{
	(void)rt;
	struct build_run *b = ud;
	json_t *steps = json_object_get(b->body, "steps");
	size_t n = json_array_size(steps);
	int r = 0;
	cleanup_free char *image_cmd = b->image_config ? apply_image_config(b) : NULL;
	if (b->image_config && !b->resume_state) {
		struct wr_err ue = {0};
		if ((r = image_user(b, sid, &ue)) < 0) {
			fail_reason(b, "base", wr_err_msg(&ue));
			blog(b, "error", "%s", wr_err_msg(&ue));
			return wr_err_set(err, -r, "%s", wr_err_msg(&ue));
		}
	}
	if (b->resume_state) {
		/* the engine state the cached steps ended with */
		json_t *st = b->resume_state, *env = json_object_get(st, "env");
		cleanup_json json_t *prev = b->env; /* the environment before the cached steps */
		b->env = json_is_object(env) ? json_deep_copy(env) : json_object();
		const char *u = json_string_value(json_object_get(st, "user"));
		const char *w = json_string_value(json_object_get(st, "workdir"));
		free(b->user);
		b->user = xstrdup(u && *u ? u : "user");
		free(b->workdir);
		b->workdir = w && *w ? xstrdup(w) : NULL;
		for (size_t i = 0; i < b->resume; i++) {
			cleanup_free char *txt = step_text(json_array_get(steps, i));
			blog(b, "info", "[%zu/%zu] %s (cached)", i + 1, n, txt);
		}
		/* the restored guest's clock stands at the checkpoint's time */
		cleanup_free char *date = xasprintf("date -u -s @%lld >/dev/null",
						    (long long)(build_now_ms() / 1000));
		struct wr_err de = {0};
		if (root_cmd(b, sid, date, &de) < 0)
			blog(b, "warn", "set the guest clock: %s", wr_err_msg(&de));
	}
	for (size_t i = b->resume; i < n; i++) {
		json_t *s = json_array_get(steps, i);
		free(b->cur_step);
		b->cur_step = xasprintf("%zu", i + 1);
		cleanup_free char *txt = step_text(s);
		if (atomic_load(&b->e->closing))
			return wr_err_set(err, ECANCELED, "cancelled: the agent is stopping");
		blog(b, "info", "[%zu/%zu] %s", i + 1, n, txt);
		tail_clear(b);
		struct wr_err se = {0};
		r = step_run(b, sid, i + 1, s, &se);
		if (r < 0) {
			char tl[1200] = "";
			size_t off = 0;
			for (size_t j = b->ntail > 5 ? b->ntail - 5 : 0;
			     j < b->ntail && off < sizeof(tl) - 1; j++)
				off += (size_t)snprintf(tl + off, sizeof(tl) - off, "\n%s",
							b->tail[j]);
			cleanup_free char *msg =
				xasprintf("step %zu (%s) failed: %s%s%s", i + 1, txt,
					  wr_err_msg(&se), off ? ":" : "", tl);
			fail_reason(b, b->cur_step, msg);
			blog(b, "error", "%s", msg);
			return wr_err_set(err, EIO, "%s", msg);
		}
		checkpoint(b, sid, i + 1, s);
	}
	free(b->cur_step);
	b->cur_step = xstrdup("finalize");
	const char *start = json_string_value(json_object_get(b->body, "startCmd"));
	if ((!start || !*start) && image_cmd)
		start = image_cmd;
	const char *ready = json_string_value(json_object_get(b->body, "readyCmd"));
	if (start && *start) {
		blog(b, "info", "[finalize] start command: %s", start);
		struct build_exec x = {.cmd = start,
				       .user = b->user,
				       .cwd = b->workdir,
				       .envs = b->env,
				       .background = true};
		int code = 0;
		struct wr_err se = {0};
		r = build_exec_run(rt, sid, &x, &code, &se);
		if (r < 0) {
			cleanup_free char *msg =
				xasprintf("start command failed: %s", wr_err_msg(&se));
			fail_reason(b, "finalize", msg);
			blog(b, "error", "%s", msg);
			return wr_err_set(err, EIO, "%s", msg);
		}
	}
	cleanup_free char *dflt = NULL;
	if ((!ready || !*ready) && start && *start)
		ready = dflt = xasprintf("sleep %d", DEFAULT_READY_WAIT_S);
	if (ready && *ready) {
		blog(b, "info", "[finalize] waiting for the ready command: %s", ready);
		int64_t t0 = build_now_ms();
		for (;;) {
			int code = -1;
			struct wr_err se = {0};
			struct build_exec x = {.cmd = ready,
					       .user = b->user,
					       .cwd = b->workdir,
					       .envs = b->env,
					       .timeout_ms = 60000,
					       .stop = &b->e->closing};
			r = build_exec_run(rt, sid, &x, &code, &se);
			if (r == 0 && code == 0)
				break;
			if (atomic_load(&b->e->closing) || build_now_ms() - t0 > READY_TIMEOUT_MS) {
				cleanup_free char *msg =
					xasprintf("ready command did not succeed within %d s: %s",
						  READY_TIMEOUT_MS / 1000,
						  r < 0 ? wr_err_msg(&se) : "non-zero exit");
				fail_reason(b, "finalize", msg);
				blog(b, "error", "%s", msg);
				return wr_err_set(err, ETIMEDOUT, "%s", msg);
			}
			usleep(500 * 1000);
		}
		blog(b, "info", "[finalize] ready after %.1f s",
		     (double)(build_now_ms() - t0) / 1000.0);
	}
	/* Trim freed blocks so the snapshot's disk stays small (best effort: not every disk
	 * backend passes discards through). */
	int code = 0;
	struct wr_err se = {0};
	struct build_exec x = {.cmd = "sync; fstrim -a 2>&1 || fstrim / 2>&1 || true",
			       .user = "root",
			       .timeout_ms = 120000,
			       .line = on_line,
			       .ud = b};
	if (build_exec_run(rt, sid, &x, &code, &se) < 0)
		blog(b, "warn", "fstrim: %s", wr_err_msg(&se));
	/* The environment, user and workdir the steps ended with become envd's defaults in the
	 * snapshot, so every sandbox restored from it starts with them. */
	r = build_exec_init(rt, sid, b->env, b->user, b->workdir, &se);
	if (r < 0) {
		fail_reason(b, "finalize", wr_err_msg(&se));
		return wr_err_set(err, -r, "%s", wr_err_msg(&se));
	}
	blog(b, "info", "[finalize] snapshotting the template");
	return 0;
}

/* Point name (and tags) at target; remove what the name pointed at before when unused.  The
 * name is one row written in one statement: when that write fails (the data disk is full, the
 * database is locked) the name keeps what it had and the build fails; a tag that cannot be
 * written is a warning in the build log (the template itself is whole). */
static int publish(struct build_run *b, struct wr_err *err)
{
	struct build_engine *e = b->e;
	struct store_alias old = {0};
	bool had = store_alias_get(e->st, b->template_id, &old, NULL) == 0;
	int r = store_alias_put(e->st, b->template_id, b->target, b->id, err);
	if (r < 0) {
		store_alias_done(&old);
		return wr_err_prefix(err, r, "publish %s", b->template_id);
	}
	for (size_t i = 0; i <= json_array_size(b->tags); i++) {
		const char *tag =
			i == 0 ? b->tag : json_string_value(json_array_get(b->tags, i - 1));
		if (!tag)
			continue;
		cleanup_free char *a = xasprintf("%s:%s", b->template_id, tag);
		struct wr_err te = {0};
		if (store_alias_put(e->st, a, b->target, b->id, &te) < 0)
			blog(b, "warn", "tag %s not recorded: %s", a, wr_err_msg(&te));
	}
	if (had && strcmp(old.target, b->target)) {
		struct store_alias *rows = NULL;
		size_t n = 0;
		/* still tagged: keep it */
		if (store_alias_list(e->st, old.target, &rows, &n, NULL) == 0 && n == 0) {
			struct wr_err e2 = {0};
			if (runtime_template_delete(e->rt, old.target, &e2) < 0)
				log_info("build %s: previous snapshot %s kept: %s", b->id,
					 old.target, wr_err_msg(&e2));
		}
		store_alias_list_free(rows, n);
	}
	store_alias_done(&old);
	return 0;
}

static void set_status(struct build_run *b, const char *status)
{
	pthread_mutex_lock(&b->e->lock);
	b->status = status;
	pthread_cond_broadcast(&b->e->cond);
	pthread_mutex_unlock(&b->e->lock);
	persist(b, NULL);
}

/* A registry on this host is plain HTTP (the tests' local registry); others use TLS. */
static bool loopback_registry(const char *ref)
{
	return !strncmp(ref, "127.", 4) || !strncmp(ref, "localhost:", 10) ||
	       !strncmp(ref, "localhost/", 10) || !strncmp(ref, "[::1]", 5);
}

/* Pull + convert the image, register it as a boot template, take its config. */
static int prepare_image(struct build_run *b, struct wr_err *err)
{
	struct build_engine *e = b->e;
	cleanup_free char *cache = xasprintf("%s/oci-cache", e->data_dir);
	struct oci_source src = {.ref = b->image_ref,
				 .username = b->image_user,
				 .password = b->image_pass,
				 .insecure = loopback_registry(b->image_ref)};
	struct oci_image img = {0};
	blog(b, "info", "[base] pulling %s", b->image_ref);
	int64_t t0 = build_now_ms();
	int r = oci_image_prepare(&src, cache, e->guest_bins_dir, 0, &img, err);
	if (r < 0)
		return r;
	blog(b, "info", "[base] %s: %s (%s, %.1f s)", b->image_ref, img.digest,
	     r == 1 ? "cached" : "pulled and converted", (double)(build_now_ms() - t0) / 1000.0);
	const char *hex = strchr(img.digest ? img.digest : "", ':');
	cleanup_free char *name = xasprintf("oci-%.12s", hex ? hex + 1 : "image");
	struct store_template t = {.name = name,
				   .kind = STORE_TPL_ROOTFS,
				   .rootfs_path = img.rootfs_path,
				   .vcpus = 1,
				   .memory_mb = 512};
	r = store_template_put(e->st, &t, err);
	if (r >= 0) {
		free(b->from);
		b->from = TAKE_PTR(name);
		cleanup_json json_t *prev = b->image_config;
		b->image_config = img.config ? json_incref(img.config) : json_object();
	}
	oci_image_done(&img);
	return r;
}

/* The image config as the first implicit steps: Env, WorkingDir, User; Entrypoint + Cmd as the
 * start command when the request has none. */
static char *apply_image_config(struct build_run *b)
{
	json_t *c = b->image_config;
	size_t i;
	json_t *v;
	json_array_foreach(json_object_get(c, "Env"), i, v)
	{
		const char *kv = json_string_value(v);
		const char *eq = kv ? strchr(kv, '=') : NULL;
		if (!eq || eq == kv)
			continue;
		cleanup_free char *k = xstrndup(kv, (size_t)(eq - kv));
		json_object_set_new(b->env, k, json_string(eq + 1));
		blog(b, "info", "[base] ENV %s", kv);
	}
	const char *wd = json_string_value(json_object_get(c, "WorkingDir"));
	const char *user = json_string_value(json_object_get(c, "User"));
	if (wd && *wd) {
		free(b->workdir);
		b->workdir = xstrdup(wd);
		blog(b, "info", "[base] WORKDIR %s", wd);
	}
	if (user && *user) {
		free(b->user);
		b->user = xstrdup(user);
		blog(b, "info", "[base] USER %s", user);
	}
	char *cmd = NULL;
	json_t *parts[] = {json_object_get(c, "Entrypoint"), json_object_get(c, "Cmd")};
	for (size_t p = 0; p < 2; p++)
		json_array_foreach(parts[p], i, v)
		{
			if (!json_is_string(v))
				continue;
			cleanup_free char *q = build_shell_quote(json_string_value(v));
			char *n = cmd ? xasprintf("%s %s", cmd, q) : xstrdup(q);
			free(cmd);
			cmd = n;
		}
	return cmd;
}

/* The build is over: the request goes now; the run stays (for status queries) without it. */
static void run_drop_body(struct build_run *b)
{
	cleanup_json json_t *body = TAKE_PTR(b->body);
}

static void *build_thread(void *arg)
{
	struct build_run *b = arg;
	struct build_engine *e = b->e;
	int64_t t0 = build_now_ms();
	char *resume_tpl = NULL; /* the step cache entry the build VM restores */
	b->env = json_object();
	b->user = xstrdup("user");
	b->workdir = xstrdup("/home/user");
	if (b->image_ref) {
		struct wr_err ie = {0};
		free(b->cur_step);
		b->cur_step = xstrdup("base");
		if (prepare_image(b, &ie) < 0) {
			fail_reason(b, "base", wr_err_msg(&ie));
			blog(b, "error", "%s", wr_err_msg(&ie));
			log_warn("build %s of %s failed: %s", b->id, b->template_id,
				 wr_err_msg(&ie));
			set_status(b, "error");
			goto out;
		}
		/* the key names the image by digest, so a moved tag is a new build */
		free(b->cache_key);
		b->cache_key = cache_key(b);
	}
	struct store_build cached = {0};
	if (!b->force && !b->force_from &&
	    store_build_find_cached(e->st, b->cache_key, &cached, NULL) == 0) {
		blog(b, "info", "cache hit: build %s made the same template (%s); reusing it",
		     cached.id, cached.target);
		free(b->target);
		b->target = xstrdup(cached.target);
		store_build_done(&cached);
		struct wr_err pe = {0};
		if (publish(b, &pe) < 0) {
			/* the snapshot stays: it is the earlier build's */
			fail_reason(b, NULL, wr_err_msg(&pe));
			blog(b, "error", "%s", wr_err_msg(&pe));
			log_warn("build %s of %s failed: %s", b->id, b->template_id,
				 wr_err_msg(&pe));
			set_status(b, "error");
			goto out;
		}
		blog(b, "info", "Build finished in %.1f s (cached)",
		     (double)(build_now_ms() - t0) / 1000.0);
		set_status(b, "ready");
		goto out;
	}
	blog(b, "info", "Building template %s from %s (%zu steps)%s", b->template_id, b->from,
	     b->nsteps, b->force ? ", cache bypassed (force)" : "");
	/* The step cache: the longest cached prefix before the first forced step. */
	json_t *steps = json_object_get(b->body, "steps");
	b->keys = xcalloc(b->nsteps + 1, sizeof(*b->keys));
	b->keys[0] = build_cache_base_key(e, b->from, b->vcpus, b->memory_mb);
	for (size_t i = 1; i <= b->nsteps; i++)
		b->keys[i] = build_cache_step_key(b->keys[i - 1], json_array_get(steps, i - 1));
	size_t limit = b->force ? 0 : b->force_from ? b->force_from - 1 : b->nsteps;
	pthread_mutex_lock(&e->cache_lock);
	b->cache_locked = true;
	for (size_t i = limit; i >= 1 && !resume_tpl; i--)
		if (build_cache_lookup(e, b->keys[i], &b->resume_state, &resume_tpl) == 1)
			b->resume = i;
	if (resume_tpl)
		blog(b, "info", "Cache: steps 1-%zu unchanged, restoring their state (%s)",
		     b->resume, resume_tpl);
	if (b->force_from && !b->force)
		blog(b, "info", "Cache bypassed from step %zu (force)", b->force_from);
	struct runtime_build_hook hook = {
		.started = record_sandbox,
		.run = hook_run,
		.ud = b,
		.allow_internet = e->internet,
	};
	struct wr_err err = {0};
	free(b->cur_step);
	b->cur_step = xstrdup("base");
	int r = runtime_template_build_with(e->rt, b->target, resume_tpl ? resume_tpl : b->from,
					    b->vcpus, b->memory_mb, &hook, &err);
	if (b->cache_locked) {
		b->cache_locked = false;
		pthread_mutex_unlock(&e->cache_lock);
	}
	build_cache_gc(e);
	if (r < 0) {
		pthread_mutex_lock(&e->lock);
		bool have = b->reason != NULL;
		pthread_mutex_unlock(&e->lock);
		if (!have) {
			fail_reason(b, b->cur_step, wr_err_msg(&err));
			blog(b, "error", "%s", wr_err_msg(&err));
		}
		log_warn("build %s of %s failed: %s", b->id, b->template_id, wr_err_msg(&err));
		set_status(b, "error");
		goto out;
	}
	free(b->cur_step);
	b->cur_step = NULL;
	if (resume_tpl) {
		/* restored from a cache entry: the template descends from the real base, so the
		 * entry stays evictable */
		struct store_template t = {0};
		if (store_template_get(e->st, b->target, &t, NULL) == 0) {
			free(t.parent);
			t.parent = xstrdup(b->from);
			store_template_put(e->st, &t, NULL);
		}
		store_template_done(&t);
	}
	if (publish(b, &err) < 0) {
		/* nothing half-registered: the snapshot no name points at goes */
		struct wr_err de = {0};
		if (runtime_template_delete(e->rt, b->target, &de) < 0)
			log_warn("build %s: remove %s: %s", b->id, b->target, wr_err_msg(&de));
		fail_reason(b, NULL, wr_err_msg(&err));
		blog(b, "error", "%s", wr_err_msg(&err));
		log_warn("build %s of %s failed: %s", b->id, b->template_id, wr_err_msg(&err));
		set_status(b, "error");
		goto out;
	}
	blog(b, "info", "Build finished in %.1f s: template %s",
	     (double)(build_now_ms() - t0) / 1000.0, b->template_id);
	log_info("build %s: template %s ready (%s)", b->id, b->template_id, b->target);
	set_status(b, "ready");
out:
	free(resume_tpl);
	pthread_mutex_lock(&e->lock);
	e->active--;
	run_drop_body(b);
	pthread_cond_broadcast(&e->cond);
	pthread_mutex_unlock(&e->lock);
	return NULL;
}

int build_start(struct build_engine *e, const char *template_id, const char *build_id,
		const json_t *body, struct wr_err *err)
{
	pthread_mutex_lock(&e->lock);
	struct build_run *b = find_run(e, build_id ? build_id : "");
	if (!b || strcmp(b->template_id, template_id ? template_id : "")) {
		pthread_mutex_unlock(&e->lock);
		return wr_err_set(err, ENOENT, "build %s of template %s not found",
				  build_id ? build_id : "", template_id ? template_id : "");
	}
	if (strcmp(b->status, "waiting")) {
		pthread_mutex_unlock(&e->lock);
		return wr_err_set(err, EBUSY, "build %s was already started (%s)", build_id,
				  b->status);
	}
	if (e->closing) {
		pthread_mutex_unlock(&e->lock);
		return wr_err_set(err, ESHUTDOWN, "the agent is stopping");
	}
	b->status = "building"; /* claimed; validation below is outside the lock */
	pthread_mutex_unlock(&e->lock);
	int r = validate(e, b, body, err);
	if (r < 0) {
		pthread_mutex_lock(&e->lock);
		b->status = "waiting";
		pthread_mutex_unlock(&e->lock);
		return r;
	}
	b->body = json_deep_copy(body);
	b->cache_key = cache_key(b);
	b->target = xasprintf("%s.b%.8s", b->template_id, b->id);
	persist(b, NULL);
	pthread_mutex_lock(&e->lock);
	e->active++;
	pthread_mutex_unlock(&e->lock);
	pthread_t th;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	r = pthread_create(&th, &attr, build_thread, b);
	pthread_attr_destroy(&attr);
	if (r) {
		pthread_mutex_lock(&e->lock);
		e->active--;
		b->status = "waiting";
		pthread_mutex_unlock(&e->lock);
		return wr_err_errno(err, r, "start the build thread");
	}
	return 0;
}

static json_t *entry_json(const struct build_log *l)
{
	char ts[40];
	iso_time(l->ts, ts);
	json_t *j =
		json_pack("{s:s, s:s, s:s}", "timestamp", ts, "level", l->level, "message", l->msg);
	if (l->step)
		json_object_set_new(j, "step", json_string(l->step));
	return j;
}

int build_status(struct build_engine *e, const char *template_id, const char *build_id,
		 size_t logs_offset, const char *level, json_t **ret, struct wr_err *err)
{
	int min = 0;
	if (level && *level && (min = level_rank(level)) < 0)
		return wr_err_set(err, EINVAL, "level must be debug, info, warn or error");
	cleanup_json json_t *entries = json_array(), *logs = json_array();
	cleanup_json json_t *j = NULL;
	pthread_mutex_lock(&e->lock);
	struct build_run *b = find_run(e, build_id ? build_id : "");
	if (b && !strcmp(b->template_id, template_id ? template_id : "")) {
		/* logsOffset counts the entries of this level filter, as E2B's */
		size_t seen = 0;
		for (size_t i = 0; i < b->nlogs; i++) {
			if (level_rank(b->logs[i].level) < min)
				continue;
			if (seen++ < logs_offset)
				continue;
			json_array_append_new(entries, entry_json(&b->logs[i]));
			char ts[40];
			iso_time(b->logs[i].ts, ts);
			json_array_append_new(logs, json_sprintf("[%s] %s", ts, b->logs[i].msg));
		}
		j = json_pack("{s:s, s:s, s:s, s:o, s:o}", "templateID", b->template_id, "buildID",
			      b->id, "status", b->status, "logEntries", TAKE_PTR(entries), "logs",
			      TAKE_PTR(logs));
		if (b->reason && !strcmp(b->status, "error")) {
			/* a build abandoned before it started has a reason and no log tail */
			json_t *rs = json_pack("{s:s, s:o}", "message", b->reason, "logEntries",
					       b->reason_logs ? json_incref(b->reason_logs)
							      : json_array());
			if (b->reason_step)
				json_object_set_new(rs, "step", json_string(b->reason_step));
			json_object_set_new(j, "reason", rs);
		}
	}
	pthread_mutex_unlock(&e->lock);
	if (j) {
		*ret = TAKE_PTR(j);
		return 0;
	}
	/* a build of an earlier agent run: status and reason from the store */
	struct store_build row = {0};
	if (store_build_get(e->st, build_id, &row, NULL) < 0 ||
	    strcmp(row.template_id, template_id ? template_id : "")) {
		store_build_done(&row);
		return wr_err_set(err, ENOENT, "build %s of template %s not found",
				  build_id ? build_id : "", template_id ? template_id : "");
	}
	j = json_pack("{s:s, s:s, s:s, s:o, s:o}", "templateID", row.template_id, "buildID", row.id,
		      "status", row.status, "logEntries", TAKE_PTR(entries), "logs",
		      TAKE_PTR(logs));
	if (row.reason)
		json_object_set_new(
			j, "reason",
			row.step ? json_pack("{s:s, s:s, s:[]}", "message", row.reason, "step",
					     row.step, "logEntries")
				 : json_pack("{s:s, s:[]}", "message", row.reason, "logEntries"));
	store_build_done(&row);
	*ret = TAKE_PTR(j);
	return 0;
}

int build_wait(struct build_engine *e, const char *build_id, int timeout_ms, struct wr_err *err)
{
	struct timespec dl;
	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += timeout_ms / 1000;
	pthread_mutex_lock(&e->lock);
	struct build_run *b = find_run(e, build_id);
	int r = 0;
	while (b && (!strcmp(b->status, "building") || !strcmp(b->status, "waiting"))) {
		if (timeout_ms > 0 &&
		    pthread_cond_timedwait(&e->cond, &e->lock, &dl) == ETIMEDOUT) {
			r = wr_err_set(err, ETIMEDOUT, "build %s still running", build_id);
			break;
		}
		if (timeout_ms <= 0)
			pthread_cond_wait(&e->cond, &e->lock);
	}
	if (!b)
		r = wr_err_set(err, ENOENT, "build %s not found", build_id);
	pthread_mutex_unlock(&e->lock);
	return r;
}

/* --- templates, tags -------------------------------------------------------------------------- */

int build_template_list(struct build_engine *e, json_t **ret, struct wr_err *err)
{
	struct store_alias *rows = NULL;
	size_t n = 0;
	int r = store_alias_list(e->st, NULL, &rows, &n, err);
	if (r < 0)
		return r;
	cleanup_json json_t *arr = json_array();
	for (size_t i = 0; i < n; i++) {
		if (strchr(rows[i].alias, ':'))
			continue;
		struct store_template t = {0};
		if (store_template_get(e->st, rows[i].target, &t, NULL) < 0)
			continue;
		struct store_build bl = {0};
		store_build_get(e->st, rows[i].build_id, &bl, NULL);
		char ca[40], ua[40];
		iso_time(bl.created_at ? bl.created_at : t.created_at, ca);
		iso_time(t.created_at, ua);
		json_t *o = json_pack(
			"{s:s, s:s, s:i, s:i, s:I, s:b, s:[s], s:[s], s:s, s:s, s:n, s:n, s:i, s:i, "
			"s:s, s:s}",
			"templateID", rows[i].alias, "buildID",
			rows[i].build_id ? rows[i].build_id : "", "cpuCount", t.vcpus, "memoryMB",
			t.memory_mb, "diskSizeMB", (json_int_t)(t.size_bytes >> 20), "public", 0,
			"aliases", rows[i].alias, "names", rows[i].alias, "createdAt", ca,
			"updatedAt", ua, "createdBy", "lastSpawnedAt", "spawnCount", 0,
			"buildCount", 1, "buildStatus", "ready", "envdVersion",
			RUNTIME_ENVD_VERSION);
		json_array_append_new(arr, o);
		store_build_done(&bl);
		store_template_done(&t);
	}
	store_alias_list_free(rows, n);
	*ret = TAKE_PTR(arr);
	return 0;
}

int build_template_delete(struct build_engine *e, const char *name, struct wr_err *err)
{
	struct store_alias al = {0};
	int r = store_alias_get(e->st, name ? name : "", &al, err);
	if (r < 0)
		return r;
	pthread_mutex_lock(&e->lock);
	struct build_run *b = active_run(e, name);
	pthread_mutex_unlock(&e->lock);
	if (b) {
		store_alias_done(&al);
		return wr_err_set(err, EBUSY, "template %s has a build in progress (%s)", name,
				  b->id);
	}
	/* The published snapshot first: it answers 409 while sandboxes use it. */
	r = runtime_template_delete(e->rt, al.target, err);
	if (r < 0 && r != -ENOENT) {
		store_alias_done(&al);
		return r;
	}
	struct store_alias *rows = NULL;
	size_t n = 0;
	if (store_alias_list(e->st, NULL, &rows, &n, NULL) == 0)
		for (size_t i = 0; i < n; i++) {
			size_t l = strlen(name);
			if (!strcmp(rows[i].alias, name) ||
			    (!strncmp(rows[i].alias, name, l) && rows[i].alias[l] == ':'))
				store_alias_delete(e->st, rows[i].alias, NULL);
		}
	store_alias_list_free(rows, n);
	/* snapshots of earlier builds kept because they were in use */
	struct store_build *bs = NULL;
	size_t nb = 0;
	if (store_build_list(e->st, name, NULL, &bs, &nb, NULL) == 0)
		for (size_t i = 0; i < nb; i++)
			if (bs[i].target && strcmp(bs[i].target, al.target))
				runtime_template_delete(e->rt, bs[i].target, NULL);
	store_build_list_free(bs, nb);
	store_build_delete_template(e->st, name, NULL);
	store_alias_done(&al);
	return 0;
}

int build_tags_assign(struct build_engine *e, const char *target, const json_t *tags, json_t **ret,
		      struct wr_err *err)
{
	if (!target || !json_is_array(tags) || !json_array_size(tags))
		return wr_err_set(err, EINVAL, "target and a non-empty tags array are required");
	struct store_alias al = {0};
	int r = store_alias_get(e->st, target, &al, err);
	if (r < 0)
		return r;
	cleanup_free char *name = xstrdup(target);
	char *c = strchr(name, ':');
	if (c)
		*c = 0;
	size_t i;
	json_t *t;
	json_array_foreach(tags, i, t) if (!json_is_string(t) || !tag_ok(json_string_value(t)))
	{
		store_alias_done(&al);
		return wr_err_set(err, EINVAL, "invalid tag");
	}
	json_array_foreach(tags, i, t)
	{
		cleanup_free char *a = xasprintf("%s:%s", name, json_string_value(t));
		if ((r = store_alias_put(e->st, a, al.target, al.build_id, err)) < 0) {
			store_alias_done(&al);
			return r;
		}
	}
	*ret = json_pack("{s:s, s:O}", "buildID", al.build_id ? al.build_id : "", "tags", tags);
	store_alias_done(&al);
	return 0;
}

int build_tags_remove(struct build_engine *e, const char *name, const json_t *tags,
		      struct wr_err *err)
{
	if (!name || !json_is_array(tags))
		return wr_err_set(err, EINVAL, "name and a tags array are required");
	size_t i;
	json_t *t;
	json_array_foreach(tags, i, t)
	{
		if (!json_is_string(t))
			return wr_err_set(err, EINVAL, "tags must be strings");
		cleanup_free char *a = xasprintf("%s:%s", name, json_string_value(t));
		int r = store_alias_delete(e->st, a, err);
		if (r < 0)
			return r;
	}
	return 0;
}

int build_tags_list(struct build_engine *e, const char *template_id, json_t **ret,
		    struct wr_err *err)
{
	struct store_alias al = {0};
	int r = store_alias_get(e->st, template_id, &al, err);
	if (r < 0)
		return r;
	store_alias_done(&al);
	struct store_alias *rows = NULL;
	size_t n = 0;
	if ((r = store_alias_list(e->st, NULL, &rows, &n, err)) < 0)
		return r;
	cleanup_json json_t *arr = json_array();
	size_t l = strlen(template_id);
	for (size_t i = 0; i < n; i++) {
		if (strncmp(rows[i].alias, template_id, l) || rows[i].alias[l] != ':')
			continue;
		char ca[40];
		iso_time(rows[i].created_at, ca);
		json_array_append_new(
			arr, json_pack("{s:s, s:s, s:s}", "tag", rows[i].alias + l + 1, "buildID",
				       rows[i].build_id ? rows[i].build_id : "", "createdAt", ca));
	}
	store_alias_list_free(rows, n);
	*ret = TAKE_PTR(arr);
	return 0;
}

/* --- open / close, crash sweep ----------------------------------------------------------------- */

static void sweep(struct build_engine *e)
{
	static const char *const unfinished[] = {"building", "waiting"};
	for (size_t k = 0; k < ARRAY_SIZE(unfinished); k++) {
		struct store_build *rows = NULL;
		size_t n = 0;
		if (store_build_list(e->st, NULL, unfinished[k], &rows, &n, NULL) < 0)
			continue;
		for (size_t i = 0; i < n; i++) {
			struct store_build *b = &rows[i];
			if (b->sandbox_id) {
				struct wr_err err = {0};
				int r = runtime_destroy(e->rt, b->sandbox_id, &err);
				if (r < 0 && r != -ENOENT)
					log_warn("build %s: remove build VM %s: %s", b->id,
						 b->sandbox_id, wr_err_msg(&err));
				store_sandbox_delete(e->st, b->sandbox_id, NULL);
			}
			struct store_template t = {0};
			if (b->target && store_template_get(e->st, b->target, &t, NULL) < 0) {
				cleanup_free char *dir =
					xasprintf("%s/templates/%s", e->data_dir, b->target);
				rm_rf(dir);
			}
			store_template_done(&t);
			free(b->status);
			b->status = xstrdup("error");
			free(b->reason);
			b->reason =
				xstrdup("build interrupted: the agent stopped during the build");
			free(b->sandbox_id);
			b->sandbox_id = NULL;
			b->finished_at = build_now_ms();
			store_build_put(e->st, b, NULL);
			log_warn("build %s of %s was interrupted by an agent stop: marked failed",
				 b->id, b->template_id);
		}
		store_build_list_free(rows, n);
	}
}

int build_engine_open(struct runtime *rt, const struct build_config *cfg, struct build_engine **ret,
		      struct wr_err *err)
{
	struct build_engine *e = xcalloc(1, sizeof(*e));
	e->rt = rt;
	e->st = runtime_store(rt);
	e->data_dir = xstrdup(cfg && cfg->data_dir ? cfg->data_dir : RUNTIME_DATA_DIR_DEFAULT);
	e->files_dir = xasprintf("%s/build-files", e->data_dir);
	e->internet = cfg ? cfg->internet : true;
	if (cfg && cfg->guest_bins_dir) {
		e->guest_bins_dir = xstrdup(cfg->guest_bins_dir);
	} else {
		char exe[PATH_MAX];
		if (realpath("/proc/self/exe", exe)) {
			/* build/<mode>/bin/wrenn-agent -> build/static/bin */
			cleanup_free char *d = xasprintf("%s/../../static/bin", dirname(exe));
			cleanup_free char *envd = xasprintf("%s/envd", d);
			cleanup_free char *init = xasprintf("%s/wrenn-init", d);
			char real[PATH_MAX];
			if (!access(envd, X_OK) && !access(init, X_OK) && realpath(d, real))
				e->guest_bins_dir = xstrdup(real);
		}
	}
	e->max_upload = cfg && cfg->max_upload_bytes ? cfg->max_upload_bytes : UINT64_C(1) << 30;
	pthread_mutex_init(&e->lock, NULL);
	pthread_mutex_init(&e->cache_lock, NULL);
	const char *ce = getenv("WRENN_BUILD_CACHE_ENTRIES");
	e->cache_max = cfg && cfg->cache_entries ? cfg->cache_entries : ce && *ce ? atoi(ce) : 16;
	pthread_cond_init(&e->cond, NULL);
	int r = mkdir_p(e->files_dir, 0750);
	if (r < 0) {
		r = wr_err_errno(err, -r, "mkdir %s", e->files_dir);
		build_engine_close(e);
		return r;
	}
	sweep(e);
	build_cache_sweep(e);
	*ret = e;
	return 0;
}

void build_engine_close(struct build_engine *e)
{
	if (!e)
		return;
	pthread_mutex_lock(&e->lock);
	/* running builds stop at their next step or keepalive, fail, and remove their VM */
	atomic_store(&e->closing, true);
	while (e->active)
		pthread_cond_wait(&e->cond, &e->lock);
	pthread_mutex_unlock(&e->lock);
	for (size_t i = 0; i < e->nruns; i++)
		run_free(e->runs[i]);
	free(e->runs);
	free(e->tokens);
	free(e->data_dir);
	free(e->files_dir);
	free(e->guest_bins_dir);
	pthread_mutex_destroy(&e->lock);
	pthread_mutex_destroy(&e->cache_lock);
	pthread_cond_destroy(&e->cond);
	free(e);
}
