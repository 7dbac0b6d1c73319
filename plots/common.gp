# common.gp - what every chart kind shares: the model styles, the terminal,
# row selection from the run's points.csv, the intervals' drawing (bands.gp).
# Loaded by every chart kind but compare.gp (which loads bands.gp).
#
# Set by harness/charts.py (gnuplot -e): csv, outdir, chart, term (png|svg),
# models (space separated, in order), style (the file `python3
# harness/models.py --gnuplot` writes), title, sweep, fails (1 = mark failed
# points), and the kind's own variables (see each kind's file).

if (!exists("fails")) fails = 0
if (!exists("title_note")) title_note = ""
load style

set datafile separator comma
set termoption noenhanced
W = 1100; H = 650
TERM_SET = "if (term eq 'svg') { set terminal svg size W,H dynamic mouse standalone font 'Helvetica,12' background '#ffffff' } else { set terminal pngcairo size W,H font 'Sans,10' }; set termoption noenhanced; set output outdir.'/'.chart.'.'.term"

nm = words(models)
m(i) = word(models, i)
is_ok(s) = s eq "ok" || s eq "partial"
# Row selection: this chart's sweep (and series SER, "" = all), the i-th model.
SER = ""
row(i) = strcol("sweep") eq sweep && (SER eq "" || strcol("series") eq SER) && strcol("model") eq m(i)
okrow(i) = row(i) && is_ok(strcol("status"))
failrow(i) = row(i) && strcol("status") eq "failed"
# A selected row's value, NaN elsewhere (so other rows do not autoscale).
Yc(i, c) = okrow(i) ? column(c) : NaN

set grid lc rgb "#d0d0d0"
set key outside right top box opaque samplen 3
set border lc rgb "#404040"

load plotdir."/bands.gp"
