%% erlang_echo.erl - reference row: gen_tcp, a process per connection, {active, once}.
%%
%% What the runtime does underneath (OTP 25, the default inet_drv backend):
%% each socket is a port; its descriptor sits in the VM's epoll set, waited
%% on by one poll thread (+IOt 1) with one-shot events, re-armed when the
%% owner asks for more. {active, once} is Erlang's flow control: the port
%% reads one chunk (at most {buffer, --bufsize} bytes), sends it to the
%% owning process as a {tcp, S, Data} message and reads nothing more until
%% the process sets {active, once} again. gen_tcp:send writes at once and
%% queues in the port what the kernel refused; past the port's high
%% watermark the sender is suspended ("busy port") until the queue drains,
%% so a client that never reads stops its process, which stops its reads:
%% the backpressure. The scheduler threads (one per CPU in our affinity
%% mask; --loops sets how many are online) run the processes; each spins briefly before it sleeps
%% (+sbwt, the default). Beside them run dirty CPU and I/O schedulers, the
%% poll thread and an async thread.
%% Accept: Armstrong's par_connect: the process that accepted a connection
%% spawns the next acceptor, then serves its own connection.
%% Half-close: {exit_on_close, false} keeps our side open after the peer's
%% FIN ({tcp_closed, S}); every earlier byte was echoed, so we shut down
%% writing (the port sends what it still queues first) and close.
%% EMFILE: accept returns {error, emfile}. Ranch's acceptors wait 100 ms and
%% retry, leaving the queue waiting; the contract asks for libuv's trick, so
%% a keeper process holds a spare descriptor that is freed for the next
%% accept, and a connection accepted with it is closed at once unless the
%% spare can be reserved again (the 100 ms wait remains the fallback).
%% SIGTERM: the VM turns it into an event of erl_signal_server; our handler
%% replaces the default one (init:stop/0), prints the counters and halts 0.
%% SIGINT is not a signal Erlang lets a program handle: the launcher's +Bd
%% makes it end the VM at once, without the counters line.
%% Counters: one `counters` array (atomic); "syscalls" are the operations
%% this program asks for (accept, one read per {tcp} message, send, close):
%% a lower bound, the poll thread's epoll calls are not seen here.
%%
%% Contract: --addr --port --backlog --bufsize --reuseport --work-us
%% --work-every --loops --help; bad flag -> usage on stderr, exit 2;
%% "READY <port>"; one JSON line of counters on SIGTERM, exit 0.
-module(erlang_echo).
-behaviour(gen_event).
-export([main/0]).
-export([init/1, handle_event/2, handle_call/2, handle_info/2, terminate/2, code_change/3]).

-define(MODEL, "erlang").
-define(EMFILE_WAIT_MS, 100).        % Ranch's acceptor back-off
%% counters array indices
-define(ACCEPTED, 1). -define(CLOSED, 2). -define(CUR, 3). -define(PEAK, 4).
-define(BYTES_IN, 5). -define(BYTES_OUT, 6). -define(MESSAGES, 7). -define(ERRORS, 8).
-define(RESETS, 9). -define(EMFILE, 10). -define(SC_ACCEPT, 11). -define(SC_READ, 12).
-define(SC_WRITE, 13). -define(SC_CLOSE, 14).
-define(NCOUNTERS, 14).

-record(cfg, {addr = {127, 0, 0, 1}, port = 0, backlog = 4096, bufsize = 16384,
              reuseport = false, work_us = 0, work_every = 1, loops = 0}).

usage(Dev) ->
    io:put_chars(Dev,
      "usage: echo_" ?MODEL " [--addr A] [--port P] [--backlog N] [--bufsize BYTES]\n"
      "       [--reuseport] [--work-us N] [--work-every K] [--loops N]\n"
      "  --addr A        IPv4 address to listen on (default 127.0.0.1)\n"
      "  --port P        TCP port, 0 = any free port (default 0)\n"
      "  --backlog N     listen() backlog (default 4096)\n"
      "  --bufsize BYTES largest chunk a port reads per message (default 16384)\n"
      "  --reuseport     set SO_REUSEPORT to share the port with other servers\n"
      "  --work-us N     spin N microseconds of CPU per message (default 0)\n"
      "  --work-every K  a message is heavy when the key of its first two bytes is a\n"
      "                  multiple of K (about 1 in K for the generator's pseudo-random\n"
      "                  payloads; exact at --depth 1, where one read is one message)\n"
      "                  (default 1)\n"
      "  --loops N       schedulers online, at most the VM's schedulers (default:\n"
      "                  one per CPU we may run on)\n"
      "Prints 'READY <port>' when listening; on SIGTERM prints one JSON line of\n"
      "counters and exits 0.\n").

bad_arg(Fmt, Args) ->
    io:format(standard_error, ?MODEL ": " ++ Fmt ++ "~n", Args),
    usage(standard_error),
    erlang:halt(2).

num(Flag, S, Min, Max) ->
    case string:to_integer(S) of
        {V, ""} when V >= Min, V =< Max, hd(S) >= $0, hd(S) =< $9 -> V;
        _ -> bad_arg("--~s: '~s' is not a whole number from ~b to ~b", [Flag, S, Min, Max])
    end.

parse_args([], Cfg) -> Cfg;
parse_args(["--" ++ A0 | Rest], Cfg) ->
    {A, V0} = case string:split(A0, "=") of [X, Y] -> {X, Y}; [X] -> {X, none} end,
    WithValue = ["addr", "port", "backlog", "bufsize", "work-us", "work-every", "loops"],
    if
        A =:= "help", V0 =:= none -> usage(standard_io), erlang:halt(0);
        A =:= "reuseport", V0 =:= none -> parse_args(Rest, Cfg#cfg{reuseport = true});
        true ->
            lists:member(A, WithValue) orelse bad_arg("unknown or incomplete option '--~s'", [A0]),
            {V, Rest1} = case {V0, Rest} of
                             {none, [H | T]} -> {H, T};
                             {none, []} -> bad_arg("option '--~s' needs a value", [A]);
                             _ -> {V0, Rest}
                         end,
            parse_args(Rest1, set(A, V, Cfg))
    end;
parse_args([Other | _], _) -> bad_arg("unexpected argument '~s'", [Other]).

set("addr", V, C) ->
    case inet:parse_ipv4strict_address(V) of
        {ok, IP} -> C#cfg{addr = IP};
        _ -> bad_arg("--addr: '~s' is not an IPv4 address", [V])
    end;
set("port", V, C) -> C#cfg{port = num("port", V, 0, 65535)};
set("backlog", V, C) -> C#cfg{backlog = num("backlog", V, 1, 2147483647)};
set("bufsize", V, C) -> C#cfg{bufsize = num("bufsize", V, 64, 64 bsl 20)};
set("work-us", V, C) -> C#cfg{work_us = num("work-us", V, 0, 10000000)};
set("work-every", V, C) -> C#cfg{work_every = num("work-every", V, 1, 4294967295)};
set("loops", V, C) -> C#cfg{loops = num("loops", V, 1, 1024)}.

cnt() -> persistent_term:get(?MODULE).
add(I, N) -> counters:add(cnt(), I, N).

%% Heavy iff the key of the first two bytes (little-endian; one byte if the
%% chunk has one) is a multiple of --work-every: work_key() in servers/common.h.
maybe_work(_, #cfg{work_us = 0}) -> ok;
maybe_work(<<>>, _) -> ok;
maybe_work(Data, #cfg{work_us = Us, work_every = K}) ->
    Key = case Data of <<B0, B1, _/binary>> -> B0 bor (B1 bsl 8); <<B0>> -> B0 end,
    case Key rem K of
        0 -> spin(erlang:monotonic_time(microsecond) + Us);
        _ -> ok
    end.

spin(End) ->
    case erlang:monotonic_time(microsecond) < End of
        true -> spin(End);
        false -> ok
    end.

count_error(Reason) ->
    add(?ERRORS, 1),
    case Reason of
        econnreset -> add(?RESETS, 1);
        epipe -> add(?RESETS, 1);
        _ -> ok
    end.

%% One process per connection: the one that accepted it. Acceptors run one
%% after another, so each hands the next whether the spare is held or freed.
par_connect(L, Cfg, Spare) ->
    add(?SC_ACCEPT, 1),
    case gen_tcp:accept(L) of
        {ok, S} when Spare =:= held ->
            spawn(fun() -> par_connect(L, Cfg, held) end),
            serve(S, Cfg);
        {ok, S} ->                            % S may have the spare's descriptor
            case reserve() of                 % is another one free?
                ok ->
                    spawn(fun() -> par_connect(L, Cfg, held) end),
                    serve(S, Cfg);
                emfile ->                     % no: drop S, as libuv does
                    gen_tcp:close(S),
                    add(?EMFILE, 1),
                    par_connect(L, Cfg, freed)
            end;
        {error, E} when E =:= emfile; E =:= enfile ->
            case free_spare() of
                freed -> par_connect(L, Cfg, freed);   % accept takes it, or waits
                none -> timer:sleep(?EMFILE_WAIT_MS), par_connect(L, Cfg, freed)
            end;
        {error, closed} ->
            ok;
        {error, E} ->
            io:format(standard_error, ?MODEL ": accept: ~p~n", [E]),
            timer:sleep(?EMFILE_WAIT_MS),
            par_connect(L, Cfg, Spare)
    end.

serve(S, Cfg) ->
    add(?ACCEPTED, 1),
    add(?CUR, 1),
    Cur = counters:get(cnt(), ?CUR),
    case Cur > counters:get(cnt(), ?PEAK) of   % only acceptors raise CUR, one at a time
        true -> counters:put(cnt(), ?PEAK, Cur);
        false -> ok
    end,
    ok = inet:setopts(S, [{active, once}]),
    loop(S, Cfg).

%% The spare descriptor (libuv's trick, as servers/common.c): a raw file can
%% only be used by the process that opened it, and acceptors come and go, so
%% one keeper process holds it. accept(2) fails with EMFILE while no
%% descriptor is free even if nothing is queued, so retrying at once would
%% spin; freeing the spare lets the next accept take it or wait.
spare_keeper(F) ->
    receive
        {free, From} ->
            F =/= none andalso file:close(F),
            From ! {spare, case F of none -> none; _ -> freed end},
            spare_keeper(none);
        {reserve, From} when F =:= none ->
            case file:open("/dev/null", [read, raw]) of
                {ok, F1} -> From ! {spare, ok}, spare_keeper(F1);
                {error, _} -> From ! {spare, emfile}, spare_keeper(none)
            end;
        {reserve, From} ->
            From ! {spare, ok},
            spare_keeper(F)
    end.

free_spare() -> spare ! {free, self()}, receive {spare, R} -> R end.
reserve() -> spare ! {reserve, self()}, receive {spare, R} -> R end.

loop(S, Cfg) ->
    receive
        {tcp, S, Data} ->
            N = byte_size(Data),
            add(?SC_READ, 1),
            add(?BYTES_IN, N),
            add(?MESSAGES, 1),
            maybe_work(Data, Cfg),
            add(?SC_WRITE, 1),
            case gen_tcp:send(S, Data) of           % suspends us while the port is busy
                ok ->
                    add(?BYTES_OUT, N),
                    case inet:setopts(S, [{active, once}]) of
                        ok -> loop(S, Cfg);
                        {error, R} -> count_error(R), close(S)
                    end;
                {error, R} ->
                    count_error(R),
                    close(S)
            end;
        {tcp_closed, S} ->                          % the peer's FIN: all echoed
            gen_tcp:shutdown(S, write),
            close(S);
        {tcp_error, S, R} ->
            count_error(R),
            close(S)
    end.

close(S) ->
    add(?SC_CLOSE, 1),
    gen_tcp:close(S),
    add(?CLOSED, 1),
    add(?CUR, -1).

print_stats() ->
    C = cnt(),
    G = fun(I) -> counters:get(C, I) end,
    Sc = [G(?SC_ACCEPT), G(?SC_READ), G(?SC_WRITE), G(?SC_CLOSE)],
    io:put_chars(io_lib:format(
      "{\"model\":\"" ?MODEL "\",\"accepted\":~b,\"closed\":~b,\"peak_conns\":~b,"
      "\"bytes_in\":~b,\"bytes_out\":~b,\"messages\":~b,\"errors\":~b,\"resets\":~b,"
      "\"emfile\":~b,\"overflows\":0,\"syscalls\":{\"accept\":~b,\"read\":~b,\"write\":~b,"
      "\"close\":~b,\"wait\":0,\"ctl\":0,\"submit\":0,\"sigwait\":0,\"other\":0,\"total\":~b}}~n",
      [G(?ACCEPTED), G(?CLOSED), G(?PEAK), G(?BYTES_IN), G(?BYTES_OUT), G(?MESSAGES),
       G(?ERRORS), G(?RESETS), G(?EMFILE) | Sc] ++ [lists:sum(Sc)])).

%% erl_signal_server handler: SIGTERM -> counters, exit 0.
init([]) -> {ok, []}.
handle_event(sigterm, St) -> print_stats(), erlang:halt(0), {ok, St};
handle_event(_, St) -> {ok, St}.
handle_call(_, St) -> {ok, ok, St}.
handle_info(_, St) -> {ok, St}.
terminate(_, _) -> ok.
code_change(_, St, _) -> {ok, St}.

main() ->
    Cfg = parse_args(init:get_plain_arguments(), #cfg{}),
    Schedulers = erlang:system_info(schedulers),
    case Cfg#cfg.loops of
        0 -> ok;
        N when N =< Schedulers -> erlang:system_flag(schedulers_online, N);
        N -> bad_arg("--loops: ~b is more than the VM's ~b schedulers", [N, Schedulers])
    end,
    persistent_term:put(?MODULE, counters:new(?NCOUNTERS, [atomics])),
    ok = gen_event:add_handler(erl_signal_server, ?MODULE, []),
    _ = gen_event:delete_handler(erl_signal_server, erl_signal_handler, []),
    ok = os:set_signal(sigterm, handle),
    ReusePort = case Cfg#cfg.reuseport of        % {reuseport, true} needs OTP 26
                    true -> [{raw, 1, 15, <<1:32/native>>}];   % SOL_SOCKET, SO_REUSEPORT
                    false -> []
                end,
    Opts = [binary, {packet, raw}, {active, false}, {ip, Cfg#cfg.addr}, {reuseaddr, true},
            {backlog, Cfg#cfg.backlog}, {nodelay, true}, {exit_on_close, false}, {show_econnreset, true},
            {buffer, Cfg#cfg.bufsize} | ReusePort],
    case gen_tcp:listen(Cfg#cfg.port, Opts) of
        {ok, L} ->
            {ok, Port} = inet:port(L),
            register(spare, spawn(fun() -> spare_keeper(none) end)),
            ok = reserve(),
            io:format("READY ~b~n", [Port]),
            spawn(fun() -> par_connect(L, Cfg, held) end),
            receive after infinity -> ok end;       % this process owns the listener
        {error, E} ->
            io:format(standard_error, ?MODEL ": listen(~s:~b): ~p~n",
                      [inet:ntoa(Cfg#cfg.addr), Cfg#cfg.port, E]),
            erlang:halt(1)
    end.
