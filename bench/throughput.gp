# bench/run.sh's throughput plot: pg_recvlogical and sluice rows/s per
# scenario, with sluice's ratio to pg_recvlogical above each pair.
#   gnuplot -e "data='throughput.dat'; out='throughput.png'" bench/throughput.gp
set terminal pngcairo noenhanced size 1100,520 font "sans,10"
set output out
set title "Rows/s per scenario, sluice and pg_recvlogical draining the same WAL (label: sluice / pg_recvlogical)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set ylabel "rows/s"
set format y "%.0s%c"
set yrange [0:*]
set grid ytics
set key outside top center horizontal
set xtics nomirror scale 0 font "sans,9"
set bmargin 4
plot data using 2:xtic(1) title "pg_recvlogical (to a file)" lc rgb "#8c8c8c", \
     '' using 3 title "sluice (to the endpoint)" lc rgb "#1f77b4", \
     '' using ($0):($2 > $3 ? $2 : $3):(sprintf("%.2f×", $4)) with labels offset 0,0.8 font "sans,9" notitle
