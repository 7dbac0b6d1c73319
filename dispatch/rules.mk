# dispatch/rules.mk - bin/dispatch, the wait mechanisms without TCP (issue 12).
# Included by the top Makefile; uses its $(BIN), $(OBJ), $(ALL_CFLAGS), $(CC),
# $(Q) and $(say), so `make SANITIZER=address` builds bin-address/dispatch.
#
# -levent before -lev: libev exports a libevent emulation under the same
# symbol names (event_base_new, event_add, ...), and the first library in
# the link order provides them to the whole process.

DISPATCH_SRCS := $(wildcard dispatch/*.c)
DISPATCH_OBJS := $(DISPATCH_SRCS:%.c=$(OBJ)/%.o)
LIBS_dispatch := -pthread -luring -laio -levent -lev -luv

.PHONY: dispatch
all: $(BIN)/dispatch
dispatch: $(BIN)/dispatch

$(OBJ)/dispatch/%.o: dispatch/%.c dispatch/dispatch.h dispatch/mechs.h | $(OBJ)/dispatch
	$(call say,CC,$<)$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BIN)/dispatch: $(DISPATCH_OBJS) | $(BIN)
	$(call say,LD,$@)$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS_dispatch)

$(OBJ)/dispatch:
	@mkdir -p $@
