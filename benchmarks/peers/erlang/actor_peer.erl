%% actor_peer: the Erlang/OTP side of actor_bench's cases, same shapes and
%% the same message counts, for benchmarks/run_all.
%%
%%   erlc -o DIR actor_peer.erl
%%   erl -noshell +S 2:2 -pa DIR -run actor_peer local quick|full REPS
%%       local cases, one VM: ping-pong, N:1 mailbox, fan-out/fan-in, ring,
%%       actor creation
%%   erl -noshell +S 2:2 -name echo@127.0.0.1 -setcookie C -pa DIR -run actor_peer echo
%%       the remote side: registers an echo process as 'agora_echo' and runs
%%       until its node is stopped (run_all kills it)
%%   erl -noshell +S 2:2 -name client@127.0.0.1 -setcookie C -pa DIR \
%%       -run actor_peer remote quick|full REPS echo@127.0.0.1
%%       round trips and one-way messages to the echo node (two OS processes,
%%       Erlang distribution on loopback)
%%
%% Every mode prints a readable table, then one JSON line (the last line):
%%   {"bench": "erlang_local" | "erlang_remote", "machine": {...},
%%    "results": [{"key", "case", "metric", "value", "unit", "min", "max",
%%                 "samples"}]}
%% value = median of REPS repetitions (>= 5), min/max = their spread. Every
%% repetition spawns its processes afresh. Counts (full / quick) are those of
%% actor_bench: ping-pong 300,000 / 20,000 round trips; N:1 8 senders x
%% 100,000 / 5,000; fan-out/fan-in 100 workers x 2,000 / 100 rounds; ring
%% 100 processes x 3,000 / 200 rounds; creation 100,000 / 10,000 processes;
%% remote 3,000 / 200 round trips (after 100 warm-up ones) and 200,000 /
%% 10,000 one-way messages.
%%
%% Each halt is explicit (erlang:halt/1) with status 0 only when every case
%% completed; a case that gets no answer within 120 s fails the run.
-module(actor_peer).
-export([main/1, local/1, echo/0, remote/1]).
-export([ponger/0, load_receiver/2, load_sender/3, worker/0, ring_node/1, echo_loop/1]).

-define(WAIT, 120000).

main(Args) -> local(Args).

%% --- Entry points --------------------------------------------------------------

local([Mode, RepsText]) ->
    {Quick, Reps} = parse(Mode, RepsText),
    {RT, PerSender, FanRounds, RingRounds, Spawns} =
        case Quick of
            true -> {20000, 5000, 100, 200, 10000};
            false -> {300000, 100000, 2000, 3000, 100000}
        end,
    header("erlang local", Quick, Reps),
    Results = [
        measure(pingpong, "ping-pong, 2 actors", "round trips/s", Reps,
                fun() -> ping_pong(RT) end),
        measure(n1, "N:1 mailbox, 8 senders -> 1 receiver", "msgs/s", Reps,
                fun() -> n_to_one(8, PerSender) end),
        measure(fan, "fan-out/fan-in, 1 -> 100 workers -> 1", "replies/s", Reps,
                fun() -> fan_out_in(100, FanRounds) end),
        measure(ring, "ring, 100 actors", "hops/s", Reps,
                fun() -> ring(100, RingRounds) end),
        measure(spawn, "actor creation", "actors/s", Reps,
                fun() -> creation(Spawns) end)
    ],
    finish("erlang_local", Results);
local(_) -> usage().

echo() ->
    Pid = spawn(fun() -> echo_loop(0) end),
    true = register(agora_echo, Pid),
    io:format("echo ready on ~s~n", [node()]),
    receive never -> ok end.

remote([Mode, RepsText, EchoNodeText]) ->
    {Quick, Reps} = parse(Mode, RepsText),
    {RTTs, OneWay} = case Quick of true -> {200, 10000}; false -> {3000, 200000} end,
    EchoNode = list_to_atom(EchoNodeText),
    connect(EchoNode, 200),  % up to 200 x 50 ms = 10 s for the echo node to come up
    Echo = {agora_echo, EchoNode},
    header("erlang remote", Quick, Reps),
    Samples = [remote_rep(Echo, RTTs, OneWay) || _ <- lists:seq(1, Reps)],
    Meds = [M || {M, _, _} <- Samples],
    P99s = [P || {_, P, _} <- Samples],
    Ows = [O || {_, _, O} <- Samples],
    Results = [
        row(remote_rtt, "remote loopback, echo", "RTT median", "us", Meds),
        row(remote_p99, "remote loopback, echo", "RTT p99", "us", P99s),
        row(remote_oneway, "remote loopback, echo", "one-way", "1/s", Ows)
    ],
    finish("erlang_remote", Results);
remote(_) -> usage().

usage() ->
    io:format(standard_error,
              "usage: actor_peer local quick|full REPS | echo | remote quick|full REPS NODE~n",
              []),
    erlang:halt(2).

parse(Mode, RepsText) ->
    Quick = case Mode of
                "quick" -> true;
                "full" -> false;
                _ -> usage()
            end,
    Reps = try list_to_integer(RepsText) catch _:_ -> usage() end,
    if Reps < 5; Reps > 1000 -> usage(); true -> ok end,
    {Quick, Reps}.

connect(Node, 0) -> fail("cannot reach node ~s", [Node]);
connect(Node, N) ->
    case net_adm:ping(Node) of
        pong ->
            %% the node answers before its echo process is registered
            case rpc:call(Node, erlang, whereis, [agora_echo], 5000) of
                Pid when is_pid(Pid) -> ok;
                _ -> timer:sleep(50), connect(Node, N - 1)
            end;
        pang -> timer:sleep(50), connect(Node, N - 1)
    end.

fail(Fmt, Args) ->
    io:format(standard_error, "actor_peer: " ++ Fmt ++ "~n", Args),
    erlang:halt(1).

%% --- Measuring ------------------------------------------------------------------

%% Runs F Reps times (each returns a rate) and prints the row.
measure(Key, Case, Metric, Reps, F) ->
    Samples = [F() || _ <- lists:seq(1, Reps)],
    row(Key, Case, Metric, "1/s", Samples).

row(Key, Case, Metric, Unit, Samples) ->
    Med = median(Samples),
    io:format("~-45s ~-14s ~12s ~12s ~12s ~s~n",
              [Case, Metric, human(Med), human(lists:min(Samples)),
               human(lists:max(Samples)), Unit]),
    {Key, Case, Metric, Unit, Med, Samples}.

median(Xs) ->
    S = lists:sort(Xs),
    N = length(S),
    case N rem 2 of
        1 -> lists:nth(N div 2 + 1, S);
        0 -> (lists:nth(N div 2, S) + lists:nth(N div 2 + 1, S)) / 2
    end.

human(V) when V >= 1.0e6 -> io_lib:format("~.2fM", [V / 1.0e6]);
human(V) when V >= 1.0e4 -> io_lib:format("~.1fk", [V / 1.0e3]);
human(V) when V >= 100 -> integer_to_list(round(V));
human(V) -> io_lib:format("~.2f", [float(V)]).

rate(Count, T0) ->
    Us = erlang:monotonic_time(microsecond) - T0,
    Count / (max(Us, 1) / 1.0e6).

now_us() -> erlang:monotonic_time(microsecond).

header(What, Quick, Reps) ->
    io:format("~s: OTP ~s, ~b schedulers online; ~b repetitions~s~n",
              [What, erlang:system_info(otp_release),
               erlang:system_info(schedulers_online), Reps,
               case Quick of true -> " (quick)"; false -> "" end]),
    io:format("~-45s ~-14s ~12s ~12s ~12s ~s~n",
              ["case", "metric", "median", "min", "max", "unit"]).

finish(Bench, Results) ->
    Machine = io_lib:format("{\"otp\": \"~s\", \"erts\": \"~s\", \"schedulers\": ~b}",
                            [erlang:system_info(otp_release),
                             erlang:system_info(version),
                             erlang:system_info(schedulers_online)]),
    Rows = [io_lib:format("{\"key\": \"~s\", \"case\": \"~s\", \"metric\": \"~s\", "
                          "\"value\": ~s, \"unit\": \"~s\", \"min\": ~s, \"max\": ~s, "
                          "\"samples\": [~s]}",
                          [Key, Case, Metric, num(Med), Unit, num(lists:min(S)),
                           num(lists:max(S)), lists:join(", ", [num(X) || X <- S])])
            || {Key, Case, Metric, Unit, Med, S} <- Results],
    io:format("{\"bench\": \"~s\", \"machine\": ~s, \"results\": [~s]}~n",
              [Bench, Machine, lists:join(", ", Rows)]),
    erlang:halt(0).

num(X) when is_integer(X) -> integer_to_list(X);
num(X) -> float_to_list(X, [{decimals, 4}, compact]).

await(Tag, What) ->
    receive Tag -> ok
    after ?WAIT -> fail("~s: no result within 120 s", [What])
    end.

%% --- Ping-pong: 2 processes, N round trips -------------------------------------

ponger() ->
    receive
        {ping, From, I} -> From ! {pong, I}, ponger();
        stop -> ok
    end.

pinger(Pong, N, Driver) ->
    receive
        {pong, I} when I >= N -> Driver ! done;
        {pong, I} -> Pong ! {ping, self(), I + 1}, pinger(Pong, N, Driver)
    end.

ping_pong(N) ->
    Self = self(),
    Pong = spawn(fun ponger/0),
    Ping = spawn(fun() -> receive go -> Pong ! {ping, self(), 1}, pinger(Pong, N, Self) end end),
    T0 = now_us(),
    Ping ! go,
    await(done, "ping-pong"),
    R = rate(N, T0),
    Pong ! stop,
    R.

%% --- N:1 mailbox: S senders, one receiver ---------------------------------------

load_receiver(0, Driver) -> Driver ! done;
load_receiver(Left, Driver) ->
    receive {load, _I} -> load_receiver(Left - 1, Driver) end.

load_sender(_Target, 0, _I) -> ok;
load_sender(Target, Left, I) -> Target ! {load, I}, load_sender(Target, Left - 1, I + 1).

n_to_one(Senders, PerSender) ->
    Self = self(),
    Recv = spawn(fun() -> load_receiver(Senders * PerSender, Self) end),
    Ss = [spawn(fun() -> receive go -> load_sender(Recv, PerSender, 0) end end)
          || _ <- lists:seq(1, Senders)],
    T0 = now_us(),
    [S ! go || S <- Ss],
    await(done, "N:1 mailbox"),
    rate(Senders * PerSender, T0).

%% --- Fan-out/fan-in: a coordinator, W workers, R rounds -------------------------

worker() ->
    receive
        {work, From, I} -> From ! {reply, I}, worker();
        stop -> ok
    end.

coordinator(Workers, Rounds, Driver) ->
    coordinator(Workers, 0, Rounds, Driver).

coordinator(_Workers, Round, Rounds, Driver) when Round =:= Rounds -> Driver ! done;
coordinator(Workers, Round, Rounds, Driver) ->
    Self = self(),
    [W ! {work, Self, Round} || W <- Workers],
    gather(length(Workers)),
    coordinator(Workers, Round + 1, Rounds, Driver).

gather(0) -> ok;
gather(N) -> receive {reply, _} -> gather(N - 1) end.

fan_out_in(NWorkers, Rounds) ->
    Self = self(),
    Ws = [spawn(fun worker/0) || _ <- lists:seq(1, NWorkers)],
    C = spawn(fun() -> receive go -> coordinator(Ws, Rounds, Self) end end),
    T0 = now_us(),
    C ! go,
    await(done, "fan-out/fan-in"),
    R = rate(NWorkers * Rounds, T0),
    [W ! stop || W <- Ws],
    R.

%% --- Ring: N processes pass a token R times around -------------------------------

ring_node(Driver) ->
    receive {next, Next} -> ring_loop(Next, Driver) end.

ring_loop(Next, Driver) ->
    receive
        {token, 0} -> Driver ! done, ring_loop(Next, Driver);
        {token, Left} -> Next ! {token, Left - 1}, ring_loop(Next, Driver);
        stop -> ok
    end.

ring(N, Rounds) ->
    Self = self(),
    Ns = [spawn(fun() -> ring_node(Self) end) || _ <- lists:seq(1, N)],
    Nexts = tl(Ns) ++ [hd(Ns)],
    [P ! {next, Q} || {P, Q} <- lists:zip(Ns, Nexts)],
    Hops = Rounds * N,
    T0 = now_us(),
    hd(Ns) ! {token, Hops - 1},
    await(done, "ring"),
    R = rate(Hops, T0),
    [P ! stop || P <- Ns],
    R.

%% --- Actor creation: spawn N processes, each says hello and ends -------------------

creation(N) ->
    Self = self(),
    T0 = now_us(),
    spawn_all(N, Self),
    count_hellos(N),
    rate(N, T0).

spawn_all(0, _) -> ok;
spawn_all(N, Parent) ->
    spawn(fun() -> Parent ! hello end),
    spawn_all(N - 1, Parent).

count_hellos(0) -> ok;
count_hellos(N) ->
    receive hello -> count_hellos(N - 1)
    after ?WAIT -> fail("actor creation: no hello within 120 s", [])
    end.

%% --- Remote: round trips and one-way messages to the echo node -------------------

echo_loop(Seen) ->
    receive
        {ping, From, I} -> From ! {pong, I}, echo_loop(Seen);
        {load, _} -> echo_loop(Seen + 1);
        {done, From} -> From ! {seen, Seen}, echo_loop(0)
    end.

%% One repetition: {RTT median us, RTT p99 us, one-way msgs/s}.
remote_rep(Echo, RTTs, OneWay) ->
    Us = [round_trip(Echo, I) || I <- lists:seq(1, RTTs + 100)],
    Sorted = lists:sort(lists:nthtail(100, Us)),  % the first 100 warm up
    N = length(Sorted),
    Med = lists:nth(N div 2 + 1, Sorted),
    P99 = lists:nth(min(N, N * 99 div 100 + 1), Sorted),
    T0 = now_us(),
    send_load(Echo, OneWay),
    Echo ! {done, self()},
    receive
        {seen, OneWay} -> ok;
        {seen, Other} -> fail("one-way: ~b of ~b arrived", [Other, OneWay])
    after ?WAIT -> fail("one-way: no answer within 120 s", [])
    end,
    {Med, P99, rate(OneWay, T0)}.

round_trip(Echo, I) ->
    T0 = erlang:monotonic_time(nanosecond),
    Echo ! {ping, self(), I},
    receive {pong, I} -> ok
    after 5000 -> fail("round trip ~b: no answer within 5 s", [I])
    end,
    (erlang:monotonic_time(nanosecond) - T0) / 1000.0.

send_load(_Echo, 0) -> ok;
send_load(Echo, N) -> Echo ! {load, N}, send_load(Echo, N - 1).
