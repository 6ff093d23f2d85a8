/* SPDX-License-Identifier: MIT */
#include "build/dockerfile.h"
#include "basic/xalloc.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The steps the parser adds around the file's own, as the SDK's fromDockerfile does. */
#define PRE                                                                                        \
	"{\"type\":\"USER\",\"args\":[\"root\"],\"force\":false},{\"type\":\"WORKDIR\",\"args\":[\"/\"],\"force\":false}"
#define POST_USER "{\"type\":\"USER\",\"args\":[\"user\"],\"force\":false}"
#define POST_WD "{\"type\":\"WORKDIR\",\"args\":[\"/home/user\"],\"force\":false}"
#define POST POST_USER "," POST_WD

static json_t *parse_ok(const char *text, const char *build_args, json_t **ret_notes)
{
	struct wr_err err = {0};
	json_t *ba = build_args ? json_loads(build_args, 0, NULL) : NULL;
	json_t *build = NULL, *notes = NULL;
	int r = dockerfile_parse(text, strlen(text), ba, &build, &notes, &err);
	if (r < 0)
		fail_msg("unexpected error: %s", wr_err_msg(&err));
	json_decref(ba);
	if (ret_notes)
		*ret_notes = notes;
	else
		json_decref(notes);
	return build;
}

static void expect(const char *text, const char *build_args, const char *want)
{
	json_t *build = parse_ok(text, build_args, NULL);
	json_error_t jerr;
	json_t *w = json_loads(want, 0, &jerr);
	if (!w)
		fail_msg("bad expectation %s: %s", want, jerr.text);
	if (!json_equal(build, w)) {
		char *got = json_dumps(build, JSON_COMPACT);
		char *exp = json_dumps(w, JSON_COMPACT);
		print_error("got:  %s\nwant: %s\n", got, exp);
		free(got);
		free(exp);
		fail();
	}
	json_decref(w);
	json_decref(build);
}

static void expect_err(const char *text, const char *want)
{
	struct wr_err err = {0};
	json_t *build = NULL, *notes = NULL;
	int r = dockerfile_parse(text, strlen(text), NULL, &build, &notes, &err);
	assert_int_equal(r, -EINVAL);
	assert_null(build);
	assert_null(notes);
	assert_string_equal(wr_err_msg(&err), want);
}

static void test_from_kinds(void **state)
{
	(void)state;
	expect("FROM base\n", NULL,
	       "{\"fromTemplate\":\"base\",\"force\":false,\"steps\":[" PRE "," POST "]}");
	expect("FROM my-template AS x\n", NULL,
	       "{\"fromTemplate\":\"my-template\",\"force\":false,\"steps\":[" PRE "," POST "]}");
	expect("from python:3.12-slim\n", NULL,
	       "{\"fromImage\":\"python:3.12-slim\",\"force\":false,\"steps\":[" PRE "," POST "]}");
	expect("FROM 127.0.0.1:5000/x/y\n", NULL,
	       "{\"fromImage\":\"127.0.0.1:5000/x/y\",\"force\":false,\"steps\":[" PRE "," POST
	       "]}");
	expect("FROM library/alpine\n", NULL,
	       "{\"fromImage\":\"library/alpine\",\"force\":false,\"steps\":[" PRE "," POST "]}");
	expect("FROM alpine@sha256:abc\n", NULL,
	       "{\"fromImage\":\"alpine@sha256:abc\",\"force\":false,\"steps\":[" PRE "," POST
	       "]}");
	expect("FROM --platform=linux/amd64 debian\n", NULL,
	       "{\"fromTemplate\":\"debian\",\"force\":false,\"steps\":[" PRE "," POST "]}");
	/* ARG before FROM is FROM's scope, build args override it. */
	expect("ARG V=3.11\nFROM python:${V}-slim\n", NULL,
	       "{\"fromImage\":\"python:3.11-slim\",\"force\":false,\"steps\":[" PRE "," POST "]}");
	expect("ARG V=3.11\nFROM python:$V\n", "{\"V\":\"3.13\"}",
	       "{\"fromImage\":\"python:3.13\",\"force\":false,\"steps\":[" PRE "," POST "]}");
}

static void test_run(void **state)
{
	(void)state;
	expect("FROM base\nRUN echo hi && ls $HOME\n", NULL,
	       "{\"fromTemplate\":\"base\",\"force\":false,\"steps\":[" PRE
	       ",{\"type\":\"RUN\",\"args\":[\"echo hi && ls $HOME\"],\"force\":false}," POST "]}");
	/* Exec form: one shell command line, quoted. */
	expect("FROM base\nRUN [\"/bin/echo\", \"a b\", \"it's\", \"\"]\n", NULL,
	       "{\"fromTemplate\":\"base\",\"force\":false,\"steps\":[" PRE
	       ",{\"type\":\"RUN\",\"args\":[\"/bin/echo 'a b' 'it'\\\"'\\\"'s' ''\"],\"force\":false}," POST
	       "]}");
	/* Not valid JSON: shell form, as in Docker. */
	expect("FROM base\nRUN [ -f /x ] || true\n", NULL,
	       "{\"fromTemplate\":\"base\",\"force\":false,\"steps\":[" PRE
	       ",{\"type\":\"RUN\",\"args\":[\"[ -f /x ] || true\"],\"force\":false}," POST "]}");
	/* Continuations, comments and blank lines inside them, CRLF. */
	expect("FROM base\r\nRUN apt-get update && \\\r\n# a comment\n\n    apt-get install -y x \\  \n  && echo done\n",
	       NULL,
	       "{\"fromTemplate\":\"base\",\"force\":false,\"steps\":[" PRE
	       ",{\"type\":\"RUN\",\"args\":[\"apt-get update &&     apt-get install -y x   && echo done\"],\"force\":false}," POST
	       "]}");
	/* A byte order mark before FROM. */
	expect("\xef\xbb\xbf"
	       "FROM base\n",
	       NULL, "{\"fromTemplate\":\"base\",\"force\":false,\"steps\":[" PRE "," POST "]}");
	/* Continuation at end of file ends the instruction. */
	expect("FROM base\nRUN echo a \\", NULL,
	       "{\"fromTemplate\":\"base\",\"force\":false,\"steps\":[" PRE
	       ",{\"type\":\"RUN\",\"args\":[\"echo a\"],\"force\":false}," POST "]}");
}

static void test_args_reach_run(void **state)
{
	(void)state;
	/* ARG values are exported to RUN (not persisted), ENV shadows ARG, unset ARGs are left out. */
	expect("FROM base\nARG A=1 B C=x\nENV C=env\nRUN echo $A\n", "{\"B\":\"two words\"}",
	       "{\"fromTemplate\":\"base\",\"force\":false,\"steps\":[" PRE
	       ",{\"type\":\"ENV\",\"args\":[\"C\",\"env\"],\"force\":false},"
	       "{\"type\":\"RUN\",\"args\":[\"export A=1 B='two words'; echo $A\"],\"force\":false}," POST
	       "]}");
}

static void test_global_arg_scope(void **state)
{
	(void)state;
	expect("ARG V=9\nFROM base\nARG V\nWORKDIR /opt/$V\n", NULL,
	       "{\"fromTemplate\":\"base\",\"force\":false,\"steps\":[" PRE
	       ",{\"type\":\"WORKDIR\",\"args\":[\"/opt/9\"],\"force\":false}," POST_USER "]}");
	/* Not redeclared: not visible after FROM. */
	expect("ARG V=9\nFROM base\nWORKDIR /opt/$V\n", NULL,
	       "{\"fromTemplate\":\"base\",\"force\":false,\"steps\":[" PRE
	       ",{\"type\":\"WORKDIR\",\"args\":[\"/opt/\"],\"force\":false}," POST_USER "]}");
}

static void test_env(void **state)
{
	(void)state;
	expect("FROM base\nENV A=1 B=\"two words\" C='$A' D=$A E=${A}x F=${NOPE:-dflt} G=${A:+set} H=\\$A\n",
	       NULL,
	       "{\"fromTemplate\":\"base\",\"force\":false,\"steps\":[" PRE
	       ",{\"type\":\"ENV\",\"args\":[\"A\",\"1\",\"B\",\"two words\",\"C\",\"$A\",\"D\",\"\",\"E\",\"x\",\"F\",\"dflt\",\"G\",\"\",\"H\",\"$A\"],\"force\":false}," POST
	       "]}");
	/* Substitution sees ENV values from earlier instructions. */
	expect("FROM base\nENV A=1\nENV B=$A-${A}\n", NULL,
	       "{\"fromTemplate\":\"base\",\"force\":false,\"steps\":[" PRE
	       ",{\"type\":\"ENV\",\"args\":[\"A\",\"1\"],\"force\":false},{\"type\":\"ENV\",\"args\":[\"B\",\"1-1\"],\"force\":false}," POST
	       "]}");
	/* Legacy form: the rest of the line is the value. */
	expect("FROM base\nENV GREETING hello  big world \n", NULL,
	       "{\"fromTemplate\":\"base\",\"force\":false,\"steps\":[" PRE
	       ",{\"type\":\"ENV\",\"args\":[\"GREETING\",\"hello  big world\"],\"force\":false}," POST
	       "]}");
}

static void test_copy(void **state)
{
	(void)state;
	expect("FROM base\nWORKDIR /app\nCOPY --chown=user:user --chmod=755 a.sh b/ ./\nADD /c.txt /etc/c.txt\nCOPY [\"with space\", \"/dst dir/\"]\n",
	       NULL,
	       "{\"fromTemplate\":\"base\",\"force\":false,\"steps\":[" PRE
	       ",{\"type\":\"WORKDIR\",\"args\":[\"/app\"],\"force\":false},"
	       "{\"type\":\"COPY\",\"args\":[\"a.sh\",\"/app/\",\"user:user\",\"0755\"],\"force\":false},"
	       "{\"type\":\"COPY\",\"args\":[\"b/\",\"/app/\",\"user:user\",\"0755\"],\"force\":false},"
	       "{\"type\":\"COPY\",\"args\":[\"c.txt\",\"/etc/c.txt\",\"\",\"\"],\"force\":false},"
	       "{\"type\":\"COPY\",\"args\":[\"with space\",\"/dst dir/\",\"\",\"\"],\"force\":false}," POST_USER
	       "]}");
}

static void test_copy_subst(void **state)
{
	(void)state;
	expect("FROM base\nARG SRC=src\nENV D=/opt\nWORKDIR $D\nWORKDIR sub\nCOPY $SRC/x y\n", NULL,
	       "{\"fromTemplate\":\"base\",\"force\":false,\"steps\":[" PRE
	       ",{\"type\":\"ENV\",\"args\":[\"D\",\"/opt\"],\"force\":false},"
	       "{\"type\":\"WORKDIR\",\"args\":[\"/opt\"],\"force\":false},{\"type\":\"WORKDIR\",\"args\":[\"/opt/sub\"],\"force\":false},"
	       "{\"type\":\"COPY\",\"args\":[\"src/x\",\"/opt/sub/y\",\"\",\"\"],\"force\":false}," POST_USER
	       "]}");
}

static void test_user_cmd(void **state)
{
	(void)state;
	expect("FROM base\nUSER 1000:1000\nCMD [\"python\", \"-m\", \"http.server\", \"8000\"]\n",
	       NULL,
	       "{\"fromTemplate\":\"base\",\"force\":false,\"startCmd\":\"python -m http.server 8000\",\"steps\":[" PRE
	       ",{\"type\":\"USER\",\"args\":[\"1000:1000\"],\"force\":false}," POST_WD "]}");
	/* Shell-form CMD: as written. */
	expect("FROM base\nCMD node server.js > /tmp/log 2>&1\n", NULL,
	       "{\"fromTemplate\":\"base\",\"force\":false,\"startCmd\":\"node server.js > /tmp/log 2>&1\",\"steps\":[" PRE
	       "," POST "]}");
	/* Exec ENTRYPOINT + exec CMD: concatenated; the last CMD wins. */
	expect("FROM base\nCMD [\"x\"]\nENTRYPOINT [\"/bin/app\", \"--flag=a b\"]\nCMD [\"serve\", \"it's\"]\n",
	       NULL,
	       "{\"fromTemplate\":\"base\",\"force\":false,\"startCmd\":\"/bin/app '--flag=a b' serve 'it'\\\"'\\\"'s'\",\"steps\":[" PRE
	       "," POST "]}");
	/* Exec ENTRYPOINT + shell CMD: the CMD goes through /bin/sh -c. */
	expect("FROM base\nENTRYPOINT [\"tini\", \"--\"]\nCMD echo $HOME\n", NULL,
	       "{\"fromTemplate\":\"base\",\"force\":false,\"startCmd\":\"tini -- /bin/sh -c 'echo $HOME'\",\"steps\":[" PRE
	       "," POST "]}");
	/* Shell ENTRYPOINT ignores CMD. */
	expect("FROM base\nENTRYPOINT exec /srv/run\nCMD [\"ignored\"]\n", NULL,
	       "{\"fromTemplate\":\"base\",\"force\":false,\"startCmd\":\"exec /srv/run\",\"steps\":[" PRE
	       "," POST "]}");
}

static void test_notes(void **state)
{
	(void)state;
	json_t *notes = NULL;
	json_t *b = parse_ok(
		"# syntax=docker/dockerfile:1\n# escape=`\nFROM base\nEXPOSE 8080/tcp 9000\nLABEL a=b \"c d\"=e\nRUN echo a `\n  b\n",
		"{\"UNUSED\":\"1\"}", &notes);
	assert_string_equal(
		json_string_value(json_array_get(
			json_object_get(json_array_get(json_object_get(b, "steps"), 2), "args"),
			0)),
		"echo a   b");
	assert_int_equal(json_array_size(notes), 4);
	assert_string_equal(
		json_string_value(json_array_get(notes, 0)),
		"Dockerfile line 1: syntax=docker/dockerfile:1 ignored: wrenn parses the Dockerfile itself");
	assert_string_equal(
		json_string_value(json_array_get(notes, 1)),
		"Dockerfile line 4: EXPOSE 8080/tcp 9000 noted: ports are not published, every sandbox port is reachable through the proxy");
	assert_string_equal(
		json_string_value(json_array_get(notes, 2)),
		"Dockerfile line 5: LABEL a=b 'c d=e' noted: labels are not stored in the template");
	assert_string_equal(json_string_value(json_array_get(notes, 3)),
			    "build arg UNUSED is not declared by an ARG: not used");
	json_decref(notes);
	json_decref(b);
	/* A directive after a comment is a comment; backslash stays the escape. */
	expect("# hello\n# escape=`\nFROM base\nRUN a \\\n b\n", NULL,
	       "{\"fromTemplate\":\"base\",\"force\":false,\"steps\":[" PRE
	       ",{\"type\":\"RUN\",\"args\":[\"a  b\"],\"force\":false}," POST "]}");
}

static void test_errors(void **state)
{
	(void)state;
	expect_err("", "Dockerfile: no FROM instruction");
	expect_err("# only a comment\nARG X=1\n", "Dockerfile: no FROM instruction");
	expect_err("RUN echo\nFROM base\n",
		   "Dockerfile line 1: RUN before FROM (only ARG may come before FROM)");
	expect_err("FROM base\nFROM debian\n",
		   "Dockerfile line 2: multi-stage builds are not supported (a second FROM)");
	expect_err("FROM a AS b\nFROM c\nCOPY --from=b /x /y\n",
		   "Dockerfile line 2: multi-stage builds are not supported (a second FROM)");
	expect_err(
		"FROM base\nCOPY --from=builder /x /y\n",
		"Dockerfile line 2: COPY --from is not supported (multi-stage builds are not supported)");
	expect_err(
		"FROM scratch\n",
		"Dockerfile line 1: FROM scratch is not supported: a template needs a base image or template");
	expect_err("FROM --platform=linux/arm64 base\n",
		   "Dockerfile line 1: FROM --platform=linux/arm64 is not supported");
	expect_err(
		"FROM a b\n",
		"Dockerfile line 1: FROM takes an image or template name and an optional AS name");
	expect_err("FROM $NOPE\n",
		   "Dockerfile line 1: FROM names no image (empty after substitution)");
	expect_err("FROM base\n\nHEALTHCHECK CMD true\n",
		   "Dockerfile line 3: HEALTHCHECK is not supported");
	expect_err("FROM base\nVOLUME /data\n", "Dockerfile line 2: VOLUME is not supported");
	expect_err("FROM base\nonbuild RUN x\n", "Dockerfile line 2: ONBUILD is not supported");
	expect_err("FROM base\nSTOPSIGNAL SIGTERM\n",
		   "Dockerfile line 2: STOPSIGNAL is not supported");
	expect_err("FROM base\nSHELL [\"/bin/bash\", \"-c\"]\n",
		   "Dockerfile line 2: SHELL is not supported");
	expect_err("FROM base\nFROBNICATE x\n",
		   "Dockerfile line 2: unknown instruction \"FROBNICATE\"");
	expect_err("FROM base\nRUN echo a \\\n  b\nBOGUS\n",
		   "Dockerfile line 4: unknown instruction \"BOGUS\"");
	expect_err(
		"FROM base\nADD https://example.com/x.tgz /x\n",
		"Dockerfile line 2: ADD of a URL (https://example.com/x.tgz) is not supported: download it in a RUN step");
	expect_err(
		"FROM base\nADD rootfs.tar.gz /\n",
		"Dockerfile line 2: ADD of a local archive (rootfs.tar.gz) is not supported (Docker would extract it): use COPY and RUN tar");
	expect_err("FROM base\nCOPY ../secret /x\n",
		   "Dockerfile line 2: COPY source \"../secret\" is outside the build context");
	expect_err("FROM base\nCOPY a/../../b /x\n",
		   "Dockerfile line 2: COPY source \"a/../../b\" is outside the build context");
	expect_err("FROM base\nCOPY onlyone\n",
		   "Dockerfile line 2: COPY needs at least one source and a destination");
	expect_err("FROM base\nCOPY --chmod=u+x a /b\n",
		   "Dockerfile line 2: COPY --chmod=u+x: only octal modes are supported");
	expect_err("FROM base\nCOPY --link a /b\n",
		   "Dockerfile line 2: COPY --link is not supported");
	expect_err("FROM base\nADD --chown= a /b\n",
		   "Dockerfile line 2: ADD --chown needs a value");
	expect_err("FROM base\nCOPY --chmod a /b\n",
		   "Dockerfile line 2: COPY --chmod needs a value");
	expect_err("FROM base\nRUN --mount=type=cache,target=/x true\n",
		   "Dockerfile line 2: RUN --mount is not supported");
	expect_err("FROM base\nRUN <<EOF\necho\nEOF\n",
		   "Dockerfile line 2: heredocs (<<EOF) are not supported");
	expect_err("FROM base\nRUN\n", "Dockerfile line 2: RUN needs a command");
	expect_err("FROM base\nENV\n", "Dockerfile line 2: ENV needs KEY=VALUE");
	expect_err("FROM base\nENV A=1 B\n",
		   "Dockerfile line 2: ENV: expected KEY=VALUE, got \"B\"");
	expect_err("FROM base\nENV A\n", "Dockerfile line 2: ENV A needs a value");
	expect_err("FROM base\nENV A=\"unterminated\n",
		   "Dockerfile line 2: unterminated quote in \"A=\"unterminated\"");
	expect_err("FROM base\nENV A=${B\n", "Dockerfile line 2: missing '}' in \"A=${B\"");
	expect_err(
		"FROM base\nENV A=${B/x/y}\n",
		"Dockerfile line 2: bad substitution in \"A=${B/x/y}\" (supported: ${VAR}, ${VAR:-word}, ${VAR:+word})");
	expect_err("FROM base\nENV A=${}\n", "Dockerfile line 2: bad substitution in \"A=${}\"");
	expect_err("FROM base\nUSER a b\n", "Dockerfile line 2: USER takes one user[:group]");
	expect_err("FROM base\nWORKDIR\n", "Dockerfile line 2: WORKDIR needs a path");
	expect_err("FROM base\nCMD\n", "Dockerfile line 2: CMD needs a command");
	expect_err("FROM base\nARG 1x=2\n", "Dockerfile line 2: ARG: invalid name \"1x\"");
	expect_err("FROM base\nEXPOSE\n", "Dockerfile line 2: EXPOSE needs an argument");
	expect_err("# escape=x\nFROM base\n",
		   "Dockerfile line 1: invalid escape token 'x' does not match ` or \\");
	expect_err("# escape=`\n# escape=\\\nFROM base\n",
		   "Dockerfile line 2: only one escape parser directive can be used");
	expect_err("FROM base\nMAINTAINER me\n", "Dockerfile line 2: MAINTAINER is not supported");

	/* Bad build args. */
	struct wr_err err = {0};
	json_t *build = NULL, *ba = json_pack("{s:i}", "X", 1);
	assert_int_equal(dockerfile_parse("FROM base\n", 10, ba, &build, NULL, &err), -EINVAL);
	assert_string_equal(wr_err_msg(&err), "build arg X: not a string");
	assert_null(build);
	json_decref(ba);
	/* A NUL byte inside the text. */
	assert_int_equal(dockerfile_parse("FROM base\nRUN a\0b\n", 18, NULL, &build, NULL, &err),
			 -EINVAL);
	assert_string_equal(wr_err_msg(&err), "Dockerfile line 2: NUL byte");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_from_kinds),
		cmocka_unit_test(test_run),
		cmocka_unit_test(test_args_reach_run),
		cmocka_unit_test(test_copy),
		cmocka_unit_test(test_global_arg_scope),
		cmocka_unit_test(test_env),
		cmocka_unit_test(test_copy_subst),
		cmocka_unit_test(test_user_cmd),
		cmocka_unit_test(test_notes),
		cmocka_unit_test(test_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
