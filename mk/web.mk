# web/: the dashboard (TypeScript, preact, xterm.js), type-checked by tsc and bundled by esbuild
# into $(O)/web, which wrenn-agent serves at / (src/daemon/static.c finds build/web next to
# build/<mode>/bin).  One bundle for every MODE; never committed.  npm packages come from the
# committed lockfiles: `npm ci` reruns only when a lockfile's content (its sha256) changes.
WEB_OUT := $(O)/web
WEB_FILES := $(addprefix $(WEB_OUT)/,index.html app.js app.css favicon.svg)
WEB_SRCS := $(wildcard web/src/*.ts web/src/*.tsx web/src/*.css) web/index.html web/favicon.svg \
	web/build.mjs web/tsconfig.json

.PHONY: web web-test-deps
all: web
test: web web-test-deps

# $(call npm_ci_stamp,DIR): DIR/node_modules/.lock-sha256 follows DIR/package-lock.json
define npm_ci_stamp
$(1)/node_modules/.lock-sha256: $(1)/package-lock.json
	@h=$$$$(sha256sum $$< | cut -d' ' -f1); \
	if [ "$$$$(cat $$@ 2>/dev/null)" != "$$$$h" ]; then \
		echo "npm ci in $(1)"; \
		(cd $(1) && npm ci --no-audit --no-fund --loglevel=error) && echo "$$$$h" > $$@; \
	else touch $$@; fi
endef
$(eval $(call npm_ci_stamp,web))
$(eval $(call npm_ci_stamp,tests/web))

$(WEB_FILES) &: $(WEB_SRCS) web/node_modules/.lock-sha256
	cd web && node_modules/.bin/tsc --noEmit -p .
	node web/build.mjs $(WEB_OUT)

web: $(WEB_FILES)
clean: clean-web
.PHONY: clean-web
clean-web:
	rm -rf $(WEB_OUT)
# playwright-core for tests/integration/95-dashboard.t (drives Debian's chromium)
web-test-deps: tests/web/node_modules/.lock-sha256

# unit test of the dashboard's file table (src/daemon/static.c) and the PTY WebSocket
LIBDEPS_test-static := daemon http basic
LDLIBS_test-static := -ljansson -lcrypto -lpthread
