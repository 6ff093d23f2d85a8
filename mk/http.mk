# src/http: HTTP/1.1 server+client on llhttp, Connect envelopes, JSON helpers.
# llhttp is compiled from Debian's node-llhttp sources (not copied into the
# tree) and archived into libhttp.a next to our own objects.
LLHTTP_SRC := /usr/share/llhttp
LLHTTP_INC := /usr/share/include/llhttp
LLHTTP_OBJS := $(patsubst %,$(BUILD)/obj/llhttp/%.o,llhttp api http)
CFLAGS_http := -I$(LLHTTP_INC)

$(BUILD)/obj/llhttp/%.o: $(LLHTTP_SRC)/%.c
	@mkdir -p $(@D)
	$(CC) -std=gnu17 -O2 -fPIE -I$(LLHTTP_INC) $(filter -fsanitize=% -g -fstack-protector-strong,$(MODE_CFLAGS)) \
		-w -c $< -o $@

$(BUILD)/lib/libhttp.a: $(LLHTTP_OBJS)

LIBDEPS_test-http := http basic
LDLIBS_test-http := -ljansson -lcrypto
