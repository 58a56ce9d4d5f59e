# Debate scaling, Agora against LangGraph.js: debaters vs time per round and
# vs memory. Drawn by benchmarks/plot/report.mjs (run_all):
#   gnuplot -e "dat='debate.dat'; out='DIR'" benchmarks/plot/debate.gp
# debate.dat columns: debaters, then median min max of: Agora time per round
# (us), LangGraph time per round, Agora peak RSS (MiB), LangGraph peak RSS,
# Agora RSS added by the run (MiB), LangGraph RSS added.
set terminal pngcairo size 900,560 font "sans,11"
set key top left
set grid
set logscale x
set logscale y
set xlabel "debaters (3 rounds, instant fake model)"
set xtics (3, 10, 30, 100, 300, 1000)
set xrange [2:150]
set style line 1 lw 2 lc rgb "#9400d3"
set style line 2 lw 2 lc rgb "#009e73"
set style line 3 lw 2 lc rgb "#9400d3" dt 2
set style line 4 lw 2 lc rgb "#009e73" dt 2

set output out."/debate_time.png"
set title "Debate: time per round (median of runs, bars: min-max)"
set ylabel "time per round [us]"
plot dat using 1:2:3:4 with yerrorlines ls 1 title "Agora", \
     dat using 1:5:6:7 with yerrorlines ls 2 title "LangGraph.js"

set output out."/debate_memory.png"
set title "Debate: memory of the process (median of runs, bars: min-max)"
set ylabel "MiB"
plot dat using 1:8:9:10 with yerrorlines ls 1 title "Agora, peak RSS", \
     dat using 1:11:12:13 with yerrorlines ls 2 title "LangGraph.js, peak RSS", \
     dat using 1:14:15:16 with yerrorlines ls 3 title "Agora, RSS added by the run", \
     dat using 1:17:18:19 with yerrorlines ls 4 title "LangGraph.js, RSS added by the run"
