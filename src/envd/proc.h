/* SPDX-License-Identifier: MIT */
#pragma once
/*
 * Process table: spawned commands (pipes or PTY), one reader thread each,
 * and an event log that any number of streams follow with their own cursor.
 * A process outlives the streams that watch it; ended processes are kept a
 * while so a late Connect still gets the end event.
 */
#include "envd/envd.h"

#include <stdint.h>

enum pev_kind { PEV_STDOUT, PEV_STDERR, PEV_PTY, PEV_END };

struct pev {
	enum pev_kind kind;
	char *data;
	size_t len;
	int exit_code;
	bool exited;
	char status[64];
};

struct proc;

struct proc_spec {
	char **argv; /* argv[0] = cmd as given */
	char *path;  /* resolved executable */
	char **envp;
	char *cwd;
	struct envd_user user;
	bool pty;
	unsigned cols, rows;
	bool stdin_open;
	char *tag;
	json_t *config;	    /* for List, owned */
	int64_t timeout_ms; /* 0 = none: SIGKILL when it expires */
};

void proc_spec_done(struct proc_spec *s);
/* The end event's exited / exitCode / status of a wait(2) status, with Go's
 * ProcessState.String() wording ("exit status 1", "signal: killed"). */
void proc_status_text(int wait_status, struct pev *ev);
/* Spawn; on success the process is in the table and *ret holds a reference
 * with a subscription at the first event (so a Start stream sees all). */
int procs_spawn(struct procs *t, struct proc_spec *spec, struct proc **ret, uint64_t **ret_cursor,
		struct wr_err *err);
/* Find by pid (>0) or tag; takes a reference and subscribes at the next
 * event (or at the end event when the process already ended). */
struct proc *procs_find(struct procs *t, uint32_t pid, const char *tag, bool subscribe,
			uint64_t **ret_cursor);
void proc_unref(struct proc *p, uint64_t *cursor);
pid_t proc_pid(const struct proc *p);
/* Wait for the event at *cursor (up to timeout_ms; 0 = no wait).  Returns 1
 * with a copy in *ret (caller frees ret->data) and advances the cursor, 0 on
 * timeout, -EPIPE when events were lost (cursor moved on). */
int proc_next_event(struct proc *p, uint64_t *cursor, unsigned timeout_ms, struct pev *ret);
/* Running processes as ProcessInfo JSON objects. */
json_t *procs_list(struct procs *t);
int proc_write_input(struct proc *p, bool pty, const void *data, size_t n, struct wr_err *err);
int proc_signal(struct proc *p, int sig, struct wr_err *err);
int proc_resize(struct proc *p, unsigned cols, unsigned rows, struct wr_err *err);
int proc_close_stdin(struct proc *p, struct wr_err *err);
