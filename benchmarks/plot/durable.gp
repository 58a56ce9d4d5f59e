# Durable commits: writers vs promotions/s for Agora, etcd and Redis (same
# durability: fsync before the acknowledgement). Drawn by report.mjs:
#   gnuplot -e "dat='durable.dat'; out='DIR'" benchmarks/plot/durable.gp
# durable.dat columns: writers, then median min max for agora, etcd, redis.
set terminal pngcairo size 900,560 font "sans,11"
set output out."/durable_commits.png"
set title "Durable blackboard commits (median of runs, bars: min-max)"
set key top left
set grid
set logscale x
set logscale y
set xlabel "concurrent writers"
set ylabel "commits (promotions) per second"
set xtics (1, 4, 16, 64, 256)
set xrange [0.8:100]
plot dat using 1:2:3:4 with yerrorlines lw 2 title "Agora (SQLite WAL, group commit)", \
     dat using 1:5:6:7 with yerrorlines lw 2 title "etcd", \
     dat using 1:8:9:10 with yerrorlines lw 2 title "Redis (appendfsync always)"
