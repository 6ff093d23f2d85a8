/* SPDX-License-Identifier: MIT */
/* Multiple hosts: request signing (basic/hmac.c), the replay cache of signed calls
 * (basic/nonce-cache.c), the scheduler's choice and its count of a host, creates in flight
 * included (control-sched.c), and the control plane's
 * tenancy and quota decisions (control-team.c), the signed requests' timestamp parser (basic/parse.c). */
#include "basic/hex.h"
#include "basic/hmac.h"
#include "basic/nonce-cache.h"
#include "basic/parse.h"
#include "daemon/config.h"
#include "daemon/control-sched.h"
#include "daemon/control-team.h"
#include "pg/pg.h"
#include "pg/quota.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* RFC 4231 test case 2 */
static void test_hmac_rfc4231(void **state)
{
	(void)state;
	uint8_t out[32];
	const char *data = "what do ya want for nothing?";
	hmac_sha256("Jefe", 4, data, strlen(data), out);
	static const uint8_t want[32] = {0x5b, 0xdc, 0xc1, 0x46, 0xbf, 0x60, 0x75, 0x4e,
					 0x6a, 0x04, 0x24, 0x26, 0x08, 0x95, 0x75, 0xc7,
					 0x5a, 0x00, 0x3f, 0x08, 0x9d, 0x27, 0x39, 0x83,
					 0x9d, 0xec, 0x58, 0xb9, 0x64, 0xec, 0x38, 0x43};
	assert_memory_equal(out, want, 32);
}

static const uint8_t key[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
static const char body[] = "{\"capacity\":{}}";
#define NOW INT64_C(1800000000000)
#define P "/v1/hosts/host-1/heartbeat"

static void test_sign_verify(void **state)
{
	(void)state;
	char sig[HMAC_SHA256_HEX];
	hmac_req_sign(key, "POST", P, "host-1", NOW, body, strlen(body), sig);
	assert_int_equal(strlen(sig), 64);
	assert_int_equal(
		hmac_req_verify(key, "POST", P, "host-1", NOW, body, strlen(body), sig, NOW, 0), 0);
	/* deterministic */
	char sig2[HMAC_SHA256_HEX];
	hmac_req_sign(key, "POST", P, "host-1", NOW, body, strlen(body), sig2);
	assert_string_equal(sig, sig2);
	/* upper-case hex is the same signature */
	for (char *p = sig2; *p; p++)
		if (*p >= 'a' && *p <= 'f')
			*p = (char)(*p - 'a' + 'A');
	assert_int_equal(
		hmac_req_verify(key, "POST", P, "host-1", NOW, body, strlen(body), sig2, NOW, 0),
		0);
}

static void test_tampering(void **state)
{
	(void)state;
	char sig[HMAC_SHA256_HEX];
	hmac_req_sign(key, "POST", P, "host-1", NOW, body, strlen(body), sig);
	size_t bl = strlen(body);
	/* every part of the request is covered */
	assert_int_equal(hmac_req_verify(key, "PUT", P, "host-1", NOW, body, bl, sig, NOW, 0),
			 -EACCES);
	assert_int_equal(hmac_req_verify(key, "POST", "/v1/hosts/host-2/heartbeat", "host-1", NOW,
					 body, bl, sig, NOW, 0),
			 -EACCES);
	assert_int_equal(hmac_req_verify(key, "POST", P, "host-2", NOW, body, bl, sig, NOW, 0),
			 -EACCES);
	assert_int_equal(hmac_req_verify(key, "POST", P, "host-1", NOW + 1, body, bl, sig, NOW, 0),
			 -EACCES);
	assert_int_equal(hmac_req_verify(key, "POST", P, "host-1", NOW, "{\"capacity\":{ }}",
					 bl + 1, sig, NOW, 0),
			 -EACCES);
	assert_int_equal(hmac_req_verify(key, "POST", P, "host-1", NOW, body, bl - 1, sig, NOW, 0),
			 -EACCES);
	uint8_t other[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 11};
	assert_int_equal(hmac_req_verify(other, "POST", P, "host-1", NOW, body, bl, sig, NOW, 0),
			 -EACCES);
	/* one flipped digit, truncated, garbage, missing */
	char bad[HMAC_SHA256_HEX];
	memcpy(bad, sig, sizeof(bad));
	bad[10] = bad[10] == '0' ? '1' : '0';
	assert_int_equal(hmac_req_verify(key, "POST", P, "host-1", NOW, body, bl, bad, NOW, 0),
			 -EACCES);
	bad[63] = '\0';
	assert_int_equal(hmac_req_verify(key, "POST", P, "host-1", NOW, body, bl, bad, NOW, 0),
			 -EACCES);
	assert_int_equal(
		hmac_req_verify(key, "POST", P, "host-1", NOW, body, bl,
				"zz"
				"00000000000000000000000000000000000000000000000000000000000000",
				NOW, 0),
		-EACCES);
	assert_int_equal(hmac_req_verify(key, "POST", P, "host-1", NOW, body, bl, NULL, NOW, 0),
			 -EACCES);
}

static void test_window_and_replay(void **state)
{
	(void)state;
	char sig[HMAC_SHA256_HEX];
	size_t bl = strlen(body);
	hmac_req_sign(key, "POST", P, "host-1", NOW, body, bl, sig);
	/* the edges of the ±60 s window are inside, one millisecond more is outside */
	assert_int_equal(hmac_req_verify(key, "POST", P, "host-1", NOW, body, bl, sig,
					 NOW + HMAC_REQ_WINDOW_MS, 0),
			 0);
	assert_int_equal(hmac_req_verify(key, "POST", P, "host-1", NOW, body, bl, sig,
					 NOW - HMAC_REQ_WINDOW_MS, 0),
			 0);
	assert_int_equal(hmac_req_verify(key, "POST", P, "host-1", NOW, body, bl, sig,
					 NOW + HMAC_REQ_WINDOW_MS + 1, 0),
			 -ETIME);
	assert_int_equal(hmac_req_verify(key, "POST", P, "host-1", NOW, body, bl, sig,
					 NOW - HMAC_REQ_WINDOW_MS - 1, 0),
			 -ETIME);
	/* replay: the same or an older timestamp than the last accepted one */
	assert_int_equal(hmac_req_verify(key, "POST", P, "host-1", NOW, body, bl, sig, NOW, NOW),
			 -EALREADY);
	assert_int_equal(
		hmac_req_verify(key, "POST", P, "host-1", NOW, body, bl, sig, NOW, NOW + 5),
		-EALREADY);
	assert_int_equal(
		hmac_req_verify(key, "POST", P, "host-1", NOW, body, bl, sig, NOW, NOW - 1), 0);
	/* a forged request learns nothing about the clock: bad signature first */
	assert_int_equal(hmac_req_verify(key, "POST", P, "host-1", NOW + 1, body, bl, sig,
					 NOW + 10 * HMAC_REQ_WINDOW_MS, NOW + 5),
			 -EACCES);
}

#define H(id_, ready_, sb_, free_, mem_, tpl_, warm_)                                              \
	{                                                                                          \
		.id = id_, .ready = ready_, .sandboxes = sb_, .free_slots = free_,                 \
		.memory_available_mb = mem_, .has_template = tpl_, .warm_vms = warm_               \
	}

static void test_sched_least_loaded(void **state)
{
	(void)state;
	char why[256];
	struct sched_host hs[] = {
		H("a", true, 10, 54, 8000, false, 0), H("b", true, 3, 61, 8000, false, 0),
		H("c", true, 3, 61, 9000, false, 0), /* same load as b, more memory */
	};
	assert_int_equal(sched_pick(hs, 3, NULL, 512, why, sizeof(why)), 2);
	assert_non_null(strstr(why, "c: template absent, 3 sandboxes"));
	hs[2].memory_available_mb = 8000; /* tie: the id decides */
	assert_int_equal(sched_pick(hs, 3, NULL, 512, why, sizeof(why)), 1);
	/* load is a fraction: 2 of 4 slots is busier than 3 of 64 */
	struct sched_host small[] = {H("s", true, 2, 2, 8000, false, 0),
				     H("t", true, 3, 61, 8000, false, 0)};
	assert_int_equal(sched_pick(small, 2, NULL, 512, why, sizeof(why)), 1);
}

static void test_sched_locality(void **state)
{
	(void)state;
	char why[256];
	struct sched_host hs[] = {
		H("idle", true, 0, 64, 8000, false, 0),
		H("tpl", true, 20, 44, 8000, true, 0),
		H("warm", true, 30, 34, 8000, true, 2),
	};
	/* the warm host wins despite its load, then the one with the template */
	assert_int_equal(sched_pick(hs, 3, NULL, 512, why, sizeof(why)), 2);
	assert_non_null(strstr(why, "warm VMs"));
	hs[2].warm_vms = 0;
	assert_int_equal(sched_pick(hs, 3, NULL, 512, why, sizeof(why)), 1);
	hs[1].has_template = hs[2].has_template = false;
	assert_int_equal(sched_pick(hs, 3, NULL, 512, why, sizeof(why)), 0);
}

static void test_sched_eligibility_and_retry(void **state)
{
	(void)state;
	char why[256];
	struct sched_host hs[] = {
		H("lost", false, 0, 64, 8000, true, 5), H("full", true, 64, 0, 8000, true, 5),
		H("small", true, 0, 64, 100, true, 5),	H("ok1", true, 5, 59, 8000, false, 0),
		H("ok2", true, 6, 58, 8000, false, 0),
	};
	assert_int_equal(sched_pick(hs, 5, NULL, 512, why, sizeof(why)), 3);
	assert_non_null(strstr(why, "of 2 eligible"));
	/* the retry after a failed placement on ok1 goes elsewhere */
	assert_int_equal(sched_pick(hs, 5, "ok1", 512, why, sizeof(why)), 4);
	hs[4].ready = false;
	assert_int_equal(sched_pick(hs, 5, "ok1", 512, why, sizeof(why)), -ENOSPC);
	assert_string_equal(why, "no eligible host among 5: 2 not ready, 1 without free slots, 1 "
				 "without 512 MB free, 1 excluded after a failed placement");
	assert_int_equal(sched_pick(NULL, 0, NULL, 512, why, sizeof(why)), -ENOSPC);
}

/* A host row as pg_host_list reads it: last capacity, placements and reservations not in it. */
static struct pg_host row(const char *id, const char *state, int64_t sandboxes, int64_t free_slots,
			  int64_t mem_mb)
{
	return (struct pg_host){
		.id = (char *)id,
		.state = (char *)state,
		.capacity = json_pack("{s:I,s:I,s:I,s:[s],s:I}", "sandboxes", (json_int_t)sandboxes,
				      "freeSlots", (json_int_t)free_slots, "memoryAvailableMb",
				      (json_int_t)mem_mb, "templates", "minimal", "warmVms",
				      (json_int_t)0),
	};
}

static void test_sched_host_of(void **state)
{
	(void)state;
	struct pg_host h = row("h", "ready", 1, 3, 8000);
	struct sched_host s;
	sched_host_of(&h, "minimal", 512, &s);
	assert_true(s.ready && s.has_template);
	assert_int_equal(s.sandboxes, 1);
	assert_int_equal(s.free_slots, 3);
	assert_int_equal(s.memory_available_mb, 8000);
	/* a placement its heartbeat did not list yet, two creates in flight (1024 MiB) */
	h.recent_placements = 1;
	h.reserved = 2;
	h.reserved_memory_mb = 1024;
	sched_host_of(&h, "base", 512, &s);
	assert_false(s.has_template);
	assert_int_equal(s.sandboxes, 4);
	assert_int_equal(s.free_slots, 0);
	assert_int_equal(s.memory_available_mb, 8000 - 512 - 1024);
	/* a heartbeat taken while one of them ran on the host lists it (its capacity counts it):
	 * counted once */
	h.reserved_listed = 1;
	sched_host_of(&h, NULL, 512, &s);
	assert_int_equal(s.sandboxes, 3);
	assert_int_equal(s.free_slots, 1);
	assert_int_equal(s.memory_available_mb, 8000 - 512 - 512);
	/* listed sandboxes beyond the reservations are the capacity's alone */
	h.reserved_listed = 5;
	sched_host_of(&h, NULL, 512, &s);
	assert_int_equal(s.sandboxes, 2);
	assert_int_equal(s.free_slots, 2);
	json_decref(h.capacity);
	h = row("l", "lost", 0, 4, 8000);
	sched_host_of(&h, "minimal", 512, &s);
	assert_false(s.ready);
	json_decref(h.capacity);
}

/* n picks in a row as pg_host_reserve makes them (one at a time, each seeing the reservations
 * before it); counts[i] += the picks of host i, the last pick's answer returned */
static int picks(struct pg_host *rows, size_t nh, int n, const char *exclude, int counts[])
{
	int k = -1;
	for (int j = 0; j < n; j++) {
		struct sched_host sh[4];
		char why[256];
		for (size_t i = 0; i < nh; i++)
			sched_host_of(&rows[i], "minimal", 512, &sh[i]);
		k = sched_pick(sh, nh, exclude, 512, why, sizeof(why));
		if (k < 0)
			return k;
		rows[k].reserved++;
		rows[k].reserved_memory_mb += 512;
		counts[k]++;
	}
	return k;
}

static void test_sched_reservations_spread(void **state)
{
	(void)state;
	/* issue #15: 9 concurrent creates over three idle 4-slot hosts went 9/0/0 when each pick
	 * saw the same loads; with each create's reservation counted they spread evenly */
	struct pg_host rows[3] = {row("a", "ready", 0, 4, 8100), row("b", "ready", 0, 4, 8000),
				  row("c", "ready", 0, 4, 7900)};
	int counts[3] = {0};
	assert_true(picks(rows, 3, 9, NULL, counts) >= 0);
	assert_int_equal(counts[0], 3);
	assert_int_equal(counts[1], 3);
	assert_int_equal(counts[2], 3);
	/* a heartbeat now lists two of a's creates (already running there): same count */
	json_object_set_new(rows[0].capacity, "sandboxes", json_integer(2));
	json_object_set_new(rows[0].capacity, "freeSlots", json_integer(2));
	rows[0].reserved_listed = 2;
	/* a burst beyond one host's slots fills every host, then no host has room */
	assert_true(picks(rows, 3, 3, NULL, counts) >= 0);
	assert_int_equal(counts[0] + counts[1] + counts[2], 12);
	assert_true(counts[0] == 4 && counts[1] == 4 && counts[2] == 4);
	assert_int_equal(picks(rows, 3, 1, NULL, counts), -ENOSPC);
	for (int i = 0; i < 3; i++)
		json_decref(rows[i].capacity);
}

static void test_sched_retry_sees_reservations(void **state)
{
	(void)state;
	/* a refused 507 on a: each retry drops its reservation there and picks again with every
	 * other create in flight counted, so the retries spread over b and c instead of all going
	 * to the one host the stale view showed least loaded */
	struct pg_host rows[3] = {row("a", "ready", 0, 4, 9000), row("b", "ready", 0, 4, 8000),
				  row("c", "ready", 0, 4, 8000)};
	rows[0].reserved = 4;
	rows[1].reserved = rows[2].reserved = 1;
	int counts[3] = {0};
	for (int j = 0; j < 4; j++) {
		rows[0].reserved--;
		assert_true(picks(rows, 3, 1, "a", counts) > 0);
	}
	assert_int_equal(counts[0], 0);
	assert_int_equal(counts[1], 2);
	assert_int_equal(counts[2], 2);
	/* without reservations (the old order: pick, forward, then record) all four had gone to
	 * the same host */
	struct sched_host sh[3];
	char why[256];
	for (int i = 0; i < 3; i++) {
		rows[i].reserved = 0;
		sched_host_of(&rows[i], "minimal", 512, &sh[i]);
	}
	int first = sched_pick(sh, 3, "a", 512, why, sizeof(why));
	for (int j = 0; j < 3; j++)
		assert_int_equal(sched_pick(sh, 3, "a", 512, why, sizeof(why)), first);
	for (int i = 0; i < 3; i++)
		json_decref(rows[i].capacity);
}

/* --role and its settings: the default stays the single host; each role's needs are checked */
static int load(struct agent_config *c, struct wr_err *err, int argc, char **argv)
{
	return agent_config_load(c, argc, argv, err);
}

static void test_config_roles(void **state)
{
	(void)state;
	struct agent_config c;
	struct wr_err err = {0};
	unsetenv("WRENN_ROLE");
	setenv("WRENN_CONFIG", "/dev/null", 1);
	char *def[] = {"wrenn-agent", "--data-dir=/tmp/x"};
	assert_int_equal(load(&c, &err, 2, def), 0);
	assert_null(c.role);
	assert_null(c.database);
	agent_config_done(&c);

	char *ctl[] = {"wrenn-agent", "--role", "control", "--database", "postgres://h/db"};
	assert_int_equal(load(&c, &err, 5, ctl), 0);
	assert_string_equal(c.role, "control");
	assert_string_equal(c.database, "postgres://h/db");
	agent_config_done(&c);

	char *ctl_nodb[] = {"wrenn-agent", "--role=control"};
	assert_int_equal(load(&c, &err, 2, ctl_nodb), -EINVAL);
	assert_non_null(strstr(wr_err_msg(&err), "role control needs database"));
	agent_config_done(&c);

	char *db_alone[] = {"wrenn-agent", "--database=postgres://h/db"};
	assert_int_equal(load(&c, &err, 2, db_alone), -EINVAL);
	assert_non_null(strstr(wr_err_msg(&err), "database is a setting of role control"));
	agent_config_done(&c);

	char *bad[] = {"wrenn-agent", "--role=boss"};
	assert_int_equal(load(&c, &err, 2, bad), -EINVAL);
	assert_non_null(strstr(wr_err_msg(&err), "agent, control or host"));
	agent_config_done(&c);

	char *host[] = {"wrenn-agent", "--role=host", "--control=http://c:3000", "--host-id=host-1",
			"--host-credential-file=cred"};
	assert_int_equal(load(&c, &err, 5, host), 0);
	assert_string_equal(c.host_id, "host-1");
	assert_true(c.host_credential_file[0] == '/'); /* made absolute */
	agent_config_done(&c);

	char *host_half[] = {"wrenn-agent", "--role=host", "--control=http://c:3000"};
	assert_int_equal(load(&c, &err, 3, host_half), -EINVAL);
	assert_non_null(strstr(wr_err_msg(&err), "role host needs control, host_id"));
	agent_config_done(&c);

	char *stray[] = {"wrenn-agent", "--host-id=host-1"};
	assert_int_equal(load(&c, &err, 2, stray), -EINVAL);
	assert_non_null(strstr(wr_err_msg(&err), "settings of role host"));
	agent_config_done(&c);
	unsetenv("WRENN_CONFIG");
}

/* Calls from the control plane to a host: the canonical string is the documented one. */
#define CT "/v2/sandboxes?state=running&limit=2"
#define NONCE "0123456789abcdef0123456789abcdef"
static const char cbody[] = "{\"templateID\":\"base\"}";

static void test_call_canonical(void **state)
{
	(void)state;
	char sig[HMAC_SHA256_HEX], bh[HMAC_SHA256_HEX], want[HMAC_SHA256_HEX];
	hmac_call_sign(key, "GET", CT, "host-1", NOW, NONCE, cbody, strlen(cbody), sig);
	sha256_hex(cbody, strlen(cbody), bh);
	char canon[512];
	snprintf(canon, sizeof(canon), "WRENN-CALL-HMAC-SHA256\nGET\n%s\nhost-1\n%lld\n%s\n%s", CT,
		 (long long)NOW, NONCE, bh);
	uint8_t mac[32];
	hmac_sha256(key, 32, canon, strlen(canon), mac);
	hex_encode(mac, sizeof(mac), want);
	assert_string_equal(sig, want);
	/* the heartbeat's signature over the same fields is another one: one is never the other */
	char hsig[HMAC_SHA256_HEX];
	hmac_req_sign(key, "GET", CT, "host-1", NOW, cbody, strlen(cbody), hsig);
	assert_string_not_equal(sig, hsig);
	assert_int_equal(hmac_call_verify(key, "GET", CT, "host-1", NOW, NONCE, cbody,
					  strlen(cbody), hsig, NOW),
			 -EACCES);
	/* an empty body hashes as "" (NULL or zero length alike) */
	char s1[HMAC_SHA256_HEX], s2[HMAC_SHA256_HEX];
	hmac_call_sign(key, "DELETE", "/sandboxes/x", "host-1", NOW, NONCE, NULL, 0, s1);
	hmac_call_sign(key, "DELETE", "/sandboxes/x", "host-1", NOW, NONCE, "", 0, s2);
	assert_string_equal(s1, s2);
}

static void test_call_tampering(void **state)
{
	(void)state;
	char sig[HMAC_SHA256_HEX];
	size_t bl = strlen(cbody);
	hmac_call_sign(key, "POST", CT, "host-1", NOW, NONCE, cbody, bl, sig);
	assert_int_equal(
		hmac_call_verify(key, "POST", CT, "host-1", NOW, NONCE, cbody, bl, sig, NOW), 0);
	/* method, path, query, host, timestamp, nonce, body, key: each changes the signature */
	assert_int_equal(
		hmac_call_verify(key, "PUT", CT, "host-1", NOW, NONCE, cbody, bl, sig, NOW),
		-EACCES);
	assert_int_equal(hmac_call_verify(key, "POST", "/v2/sandboxes?state=paused&limit=2",
					  "host-1", NOW, NONCE, cbody, bl, sig, NOW),
			 -EACCES);
	assert_int_equal(hmac_call_verify(key, "POST", "/v2/sandboxes", "host-1", NOW, NONCE, cbody,
					  bl, sig, NOW),
			 -EACCES);
	assert_int_equal(hmac_call_verify(key, "POST", "/sandboxes/other?state=running&limit=2",
					  "host-1", NOW, NONCE, cbody, bl, sig, NOW),
			 -EACCES);
	assert_int_equal(
		hmac_call_verify(key, "POST", CT, "host-2", NOW, NONCE, cbody, bl, sig, NOW),
		-EACCES);
	assert_int_equal(
		hmac_call_verify(key, "POST", CT, "host-1", NOW + 1, NONCE, cbody, bl, sig, NOW),
		-EACCES);
	assert_int_equal(hmac_call_verify(key, "POST", CT, "host-1", NOW,
					  "0123456789abcdef0123456789abcdee", cbody, bl, sig, NOW),
			 -EACCES);
	assert_int_equal(hmac_call_verify(key, "POST", CT, "host-1", NOW, NONCE,
					  "{\"templateID\":\"evil\"}", bl, sig, NOW),
			 -EACCES);
	assert_int_equal(
		hmac_call_verify(key, "POST", CT, "host-1", NOW, NONCE, cbody, bl - 1, sig, NOW),
		-EACCES);
	uint8_t other[32] = {9};
	assert_int_equal(
		hmac_call_verify(other, "POST", CT, "host-1", NOW, NONCE, cbody, bl, sig, NOW),
		-EACCES);
	/* malformed: signature, nonce (short, upper case, a newline splicing fields) */
	assert_int_equal(
		hmac_call_verify(key, "POST", CT, "host-1", NOW, NONCE, cbody, bl, "zz", NOW),
		-EACCES);
	assert_int_equal(
		hmac_call_verify(key, "POST", CT, "host-1", NOW, NONCE, cbody, bl, NULL, NOW),
		-EACCES);
	assert_int_equal(
		hmac_call_verify(key, "POST", CT, "host-1", NOW, "0123", cbody, bl, sig, NOW),
		-EACCES);
	assert_int_equal(hmac_call_verify(key, "POST", CT, "host-1", NOW,
					  "0123456789ABCDEF0123456789ABCDEF", cbody, bl, sig, NOW),
			 -EACCES);
	assert_int_equal(
		hmac_call_verify(key, "POST", CT "\nx", "host-1", NOW, NONCE, cbody, bl, sig, NOW),
		-EACCES);
	assert_false(hmac_nonce_well_formed(NULL));
	assert_true(hmac_nonce_well_formed(NONCE));
	char n1[HMAC_NONCE_HEX], n2[HMAC_NONCE_HEX];
	assert_int_equal(hmac_nonce(n1), 0);
	assert_int_equal(hmac_nonce(n2), 0);
	assert_true(hmac_nonce_well_formed(n1));
	assert_string_not_equal(n1, n2);
}

static void test_call_window(void **state)
{
	(void)state;
	char sig[HMAC_SHA256_HEX];
	size_t bl = strlen(cbody);
	hmac_call_sign(key, "POST", CT, "host-1", NOW, NONCE, cbody, bl, sig);
	int64_t w = HMAC_CALL_WINDOW_MS;
	assert_int_equal(
		hmac_call_verify(key, "POST", CT, "host-1", NOW, NONCE, cbody, bl, sig, NOW + w),
		0);
	assert_int_equal(
		hmac_call_verify(key, "POST", CT, "host-1", NOW, NONCE, cbody, bl, sig, NOW - w),
		0);
	assert_int_equal(hmac_call_verify(key, "POST", CT, "host-1", NOW, NONCE, cbody, bl, sig,
					  NOW + w + 1),
			 -ETIME);
	assert_int_equal(hmac_call_verify(key, "POST", CT, "host-1", NOW, NONCE, cbody, bl, sig,
					  NOW - w - 1),
			 -ETIME);
}

static void test_nonce_replay(void **state)
{
	(void)state;
	int64_t w = HMAC_CALL_WINDOW_MS;
	struct nonce_cache *nc = nonce_cache_new(3, w);
	assert_int_equal(nonce_cache_add(nc, "a", NOW, NOW), 0);
	assert_int_equal(nonce_cache_add(nc, "a", NOW, NOW + 1), -EALREADY); /* replay */
	/* the same nonce with another timestamp is still a replay (a forger cannot re-sign) */
	assert_int_equal(nonce_cache_add(nc, "a", NOW + 5, NOW + 5), -EALREADY);
	assert_int_equal(nonce_cache_add(nc, "b", NOW + 10, NOW + 10), 0);
	assert_int_equal(nonce_cache_add(nc, "c", NOW + 20, NOW + 20), 0);
	/* full of live nonces: refuse rather than forget one */
	assert_int_equal(nonce_cache_add(nc, "d", NOW + 30, NOW + 30), -ENOBUFS);
	assert_int_equal(nonce_cache_size(nc), 3);
	/* still remembered at the window's edge (the call would still pass the clock check) */
	assert_int_equal(nonce_cache_add(nc, "a", NOW, NOW + w), -EALREADY);
	/* past it, "a" is dropped: its call fails the clock check whatever its nonce */
	assert_int_equal(nonce_cache_add(nc, "d", NOW + w + 1, NOW + w + 1), 0);
	assert_int_equal(nonce_cache_size(nc), 3);
	/* later still, b and c are gone too: room again */
	assert_int_equal(nonce_cache_add(nc, "e", NOW + 2 * w, NOW + 2 * w), 0);
	assert_int_equal(nonce_cache_size(nc), 2);
	/* a call stamped in the future is remembered until its own timestamp is old */
	nonce_cache_free(nc);
	nc = nonce_cache_new(8, w);
	assert_int_equal(nonce_cache_add(nc, "f", NOW + w, NOW), 0);
	assert_int_equal(nonce_cache_add(nc, "f", NOW + w, NOW + 2 * w), -EALREADY);
	assert_int_equal(nonce_cache_add(nc, "f", NOW + w, NOW + 2 * w + 1), 0);
	assert_int_equal(nonce_cache_add(nc, "", NOW, NOW), -EINVAL);
	assert_int_equal(nonce_cache_add(nc, NULL, NOW, NOW), -EINVAL);
	nonce_cache_free(nc);
}

/* A call made for a team's key: the team is the canonical string's last line, covered by the
 * signature; it can be neither added, removed nor changed, and "" or NULL is no team at all. */
static void test_call_team(void **state)
{
	(void)state;
	char sig[HMAC_SHA256_HEX], bh[HMAC_SHA256_HEX], want[HMAC_SHA256_HEX];
	size_t bl = strlen(cbody);
	hmac_call_sign_team(key, "POST", CT, "host-1", NOW, NONCE, "acme", cbody, bl, sig);
	sha256_hex(cbody, bl, bh);
	char canon[512];
	snprintf(canon, sizeof(canon),
		 "WRENN-CALL-HMAC-SHA256\nPOST\n%s\nhost-1\n%lld\n%s\n%s\nacme", CT, (long long)NOW,
		 NONCE, bh);
	uint8_t mac[32];
	hmac_sha256(key, 32, canon, strlen(canon), mac);
	hex_encode(mac, sizeof(mac), want);
	assert_string_equal(sig, want);
	assert_int_equal(hmac_call_verify_team(key, "POST", CT, "host-1", NOW, NONCE, "acme", cbody,
					       bl, sig, NOW),
			 0);
	/* the team changed, removed (an operator's call), or with a line of its own added */
	assert_int_equal(hmac_call_verify_team(key, "POST", CT, "host-1", NOW, NONCE, "other",
					       cbody, bl, sig, NOW),
			 -EACCES);
	assert_int_equal(
		hmac_call_verify(key, "POST", CT, "host-1", NOW, NONCE, cbody, bl, sig, NOW),
		-EACCES);
	assert_int_equal(hmac_call_verify_team(key, "POST", CT, "host-1", NOW, NONCE, "acme\nx",
					       cbody, bl, sig, NOW),
			 -EACCES);
	/* an operator's call does not verify as a team's */
	char osig[HMAC_SHA256_HEX], esig[HMAC_SHA256_HEX];
	hmac_call_sign(key, "POST", CT, "host-1", NOW, NONCE, cbody, bl, osig);
	assert_int_equal(hmac_call_verify_team(key, "POST", CT, "host-1", NOW, NONCE, "acme", cbody,
					       bl, osig, NOW),
			 -EACCES);
	/* "" and NULL are the operator's canonical string, unchanged */
	hmac_call_sign_team(key, "POST", CT, "host-1", NOW, NONCE, "", cbody, bl, esig);
	assert_string_equal(esig, osig);
	assert_int_equal(hmac_call_verify_team(key, "POST", CT, "host-1", NOW, NONCE, NULL, cbody,
					       bl, osig, NOW),
			 0);
}

static void test_team_rules(void **state)
{
	(void)state;
	assert_true(control_team_name_ok("acme"));
	assert_true(control_team_name_ok("a.b_c-D9"));
	char long64[65], long65[66];
	memset(long64, 'a', 64);
	long64[64] = '\0';
	memset(long65, 'a', 65);
	long65[65] = '\0';
	assert_true(control_team_name_ok(long64));
	assert_false(control_team_name_ok(long65));
	assert_false(control_team_name_ok(""));
	assert_false(control_team_name_ok(NULL));
	assert_false(control_team_name_ok("a b"));
	assert_false(control_team_name_ok("a\nb"));
	assert_false(control_team_name_ok("a:b"));
	/* an operator (NULL or "") sees everything; a team only its own */
	assert_true(control_may_see(NULL, "acme"));
	assert_true(control_may_see("", "acme"));
	assert_true(control_may_see("", ""));
	assert_true(control_may_see("acme", "acme"));
	assert_false(control_may_see("acme", "other"));
	assert_false(control_may_see("acme", ""));
	assert_false(control_may_see("acme", NULL));
	assert_false(control_may_see("acme", "acme2"));
}

/* X-Wrenn-Timestamp of heartbeats and signed calls: a positive decimal integer, nothing else */
static void test_parse_ts(void **state)
{
	(void)state;
	int64_t v = 0;
	assert_true(parse_positive_i64("1800000000000", &v));
	assert_int_equal(v, INT64_C(1800000000000));
	assert_true(parse_positive_i64("1", &v));
	assert_int_equal(v, 1);
	v = 7;
	static const char *const bad[] = {
		"", "0", "-5", "12a", "1 ", " 1", "0x10", "99999999999999999999", "1.5"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_false(parse_positive_i64(bad[i], &v));
	assert_false(parse_positive_i64(NULL, &v));
	assert_int_equal(v, 7); /* untouched when refused */
}

/* team quotas: the last slot is admitted, the one after it refused; memory counts what is in use
 * plus what the create asks; 0 = no limit; the message names the team and the limit */
static void test_quota_admit(void **state)
{
	(void)state;
	char why[256];
	struct pg_quota q = {.max_sandboxes = 3, .sandboxes = 2};
	assert_int_equal(control_quota_admit("t1", &q, 512, why, sizeof(why)), 0);
	q.sandboxes = 3;
	assert_int_equal(control_quota_admit("t1", &q, 512, why, sizeof(why)), -EDQUOT);
	assert_non_null(strstr(why, "team t1 has reached its maximum of 3 concurrent sandboxes"));
	q.sandboxes = 7; /* lowered under the use: still refused, nothing stopped */
	assert_int_equal(control_quota_admit("t1", &q, 512, why, sizeof(why)), -EDQUOT);
	/* no limits at all (an operator sets none): anything goes */
	q = (struct pg_quota){.sandboxes = 1000, .memory_mb = INT64_C(1) << 30};
	assert_int_equal(control_quota_admit("t1", &q, 1 << 20, why, sizeof(why)), 0);
	/* memory: in use + asked, against the limit; exactly at the limit is admitted */
	q = (struct pg_quota){.max_memory_mb = 2048, .memory_mb = 1536, .sandboxes = 3};
	assert_int_equal(control_quota_admit("t2", &q, 512, why, sizeof(why)), 0);
	assert_int_equal(control_quota_admit("t2", &q, 513, why, sizeof(why)), -EDQUOT);
	assert_non_null(strstr(why, "team t2 would exceed its memory quota: 1536 MiB in use + "
				    "513 MiB for this sandbox > maxMemoryMB 2048"));
	/* both limits: the count is checked first */
	q = (struct pg_quota){
		.max_sandboxes = 1, .max_memory_mb = 100, .sandboxes = 1, .memory_mb = 999};
	assert_int_equal(control_quota_admit("t3", &q, 1, why, sizeof(why)), -EDQUOT);
	assert_non_null(strstr(why, "maximum of 1 concurrent"));
	/* a short buffer is cut, not overrun */
	char tiny[8];
	assert_int_equal(control_quota_admit("t3", &q, 1, tiny, sizeof(tiny)), -EDQUOT);
	assert_int_equal(strlen(tiny), sizeof(tiny) - 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hmac_rfc4231),
		cmocka_unit_test(test_sign_verify),
		cmocka_unit_test(test_tampering),
		cmocka_unit_test(test_window_and_replay),
		cmocka_unit_test(test_call_canonical),
		cmocka_unit_test(test_call_tampering),
		cmocka_unit_test(test_call_window),
		cmocka_unit_test(test_call_team),
		cmocka_unit_test(test_team_rules),
		cmocka_unit_test(test_nonce_replay),
		cmocka_unit_test(test_sched_least_loaded),
		cmocka_unit_test(test_sched_locality),
		cmocka_unit_test(test_sched_eligibility_and_retry),
		cmocka_unit_test(test_sched_host_of),
		cmocka_unit_test(test_sched_reservations_spread),
		cmocka_unit_test(test_sched_retry_sees_reservations),
		cmocka_unit_test(test_config_roles),
		cmocka_unit_test(test_parse_ts),
		cmocka_unit_test(test_quota_admit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
