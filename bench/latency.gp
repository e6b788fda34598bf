# bench/run.sh's latency plot: commit-to-acknowledgement percentiles at the
# fixed offered load, one bar per latency run (left), and the offered vs
# delivered rate over each run (right).
#   gnuplot -e "ladder='latency-percentiles.dat'; rate='latency-rate.dat'; runs=2;
#               titles='max_in_flight=8 max_in_flight=1'; out='latency.png'" bench/latency.gp
set terminal pngcairo noenhanced size 1100,450 font "sans,10"
set output out
set multiplot layout 1,2 title "Latency from commit to Kinesis acknowledgement at a fixed offered load"
colors = "#1f77b4 #ff7f0e #2ca02c #9467bd"

set title "Percentiles (endpoint: each record's commit_timestamp to its arrival)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set ylabel "milliseconds"
set grid ytics
set key top left autotitle columnhead
top = 0
do for [i = 2:runs + 1] {
  stats ladder using i nooutput
  top = STATS_max > top ? STATS_max : top
}
if (top > 0) {
  set logscale y
  set yrange [0.1:top * 4]
  plot for [i = 2:runs + 1] ladder using i:xtic(1) lc rgb word(colors, i - 1), \
       25 with lines dt 2 lw 1.5 lc rgb "#d62728" title "target: p99 < 25 ms", \
       for [i = 2:runs + 1] '' using ($0 + (i - 2 - (runs - 1) / 2.0) * 0.9 / (runs + 1)):(column(i)):(sprintf("%.1f", column(i))) \
         with labels offset 0,0.7 font "sans,8" notitle
} else {
  set yrange [0:1]
  set label 2 "not measured (the endpoint was kinesalite)" at graph 0.5, graph 0.5 center
  plot for [i = 2:runs + 1] ladder using i:xtic(1) lc rgb word(colors, i - 1)
}
unset logscale
unset label

set title "Changes per second"
set style data lines
set xlabel "seconds"
set ylabel "changes/s"
set yrange [0:*]
set key bottom right noautotitle
plot rate index 0 using 1:2 title "offered (pgbench commits)" lw 2 lc rgb "#8c8c8c", \
     for [i = 1:runs] rate index i using 1:2 title "delivered, ".word(titles, i) lw 2 lc rgb word(colors, i)
unset multiplot
