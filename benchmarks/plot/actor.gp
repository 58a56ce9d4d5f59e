# Actor runtime: messages per second per case for Agora, raw CAF and
# Erlang/OTP. Drawn by report.mjs:
#   gnuplot -e "dat='actor.dat'; out='DIR'" benchmarks/plot/actor.gp
# actor.dat columns: "label", Agora, raw CAF, Erlang/OTP (medians, 1/s).
set terminal pngcairo size 900,560 font "sans,11"
set output out."/actor_rates.png"
set title "Actor runtime, 2 scheduler threads each (medians; higher is better)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set key top right
set grid ytics
set logscale y
set ylabel "per second"
set xtics rotate by -20
plot dat using 2:xtic(1) title "Agora", '' using 3 title "raw CAF", '' using 4 title "Erlang/OTP"
