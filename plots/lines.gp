# lines.gp - the "lines" chart kind: small multiples. One panel per model
# family (harness/models.py FAMILIES) and per figure (one or two), each
# drawing its family's models in their colours over every other model in
# light grey, on one x and one y scale per figure across the panels (so a
# panel's height means the same as its neighbour's). The line is the figure
# (<y>: the median, or the mean, of a point's runs); its interval (ylo<k>,
# yhi<k>: <y>_lo/_hi when the CSV has them, else <y>_min/_max) is a
# translucent band under it in the model's colour, or a small box where a
# band cannot be drawn (box<k>: a point alone in its stretch of intervals,
# or an x that does not rise); a point without an interval (too few runs)
# has the line alone. The y scale is the
# medians' (bands.gp's YRANGE): a band that runs past a panel's edge is
# clipped there and an arrow marks it. A failed point is an x in the
# model's colour on the floor. The SVG shows each point's
# model, value and interval on hover.
#
# Variables (besides common.gp's): xcol, xlabel, logx (0 or the log base),
# xmin (rows with x <= xmin are left out), np (1 or 2 figures) and per figure
# k: y<k>, ylo<k>, yhi<k>, ylabel<k>, series<k> ("" = all), ptitle<k>,
# logy<k> (0/1), yfmt<k>, box<k> (per model in `models` order, the x values
# of its points drawn with a box, as ",x,x,": "," for none; charts.boxed);
# nf families, fam<j> (a family's words) and mfam (each model's family
# number, in `models` order); markcol (optional): a 0/1 column whose 1s are circled.
# Writes <outdir>/<chart>.<term>.rows: "k series model rows" for every
# model of every figure, the data rows it drew (charts.py checks them).
load plotdir."/common.gp"

if (!exists("xmin")) xmin = -1e300
mf(i) = int(word(mfam, i))
inx(i) = okrow(i) && column(xcol) > xmin
Y(i, c) = inx(i) ? column(c) : NaN
has(c) = column(c) == column(c)
# bands.gp's layers: a row model i draws in family panel j, its figure, an
# interval's end held just outside the panel (NaN where the CSV has none:
# too few runs; the band breaks there and the line goes on alone).
mine(i) = mf(i) == j && inx(i) && has(YC)
YV(i) = Y(i, YC)
IV(i, c) = ILO ne IHI && inx(i) && has(c) ? clampy(column(c)) : NaN
# The colour plot counts what it draws: cnt[(k-1)*nm + i] (final pass only).
array cnt[2 * nm]
do for [i=1:2*nm] { cnt[i] = 0 }
COUNTING = 0
counted(i, x) = (COUNTING ? cnt[(k - 1) * nm + i] = cnt[(k - 1) * nm + i] + 1 : 0, x)
X(i) = mine(i) ? counted(i, column(xcol)) : NaN
GREY = 'for [i=1:nm] csv using (mf(i) != j && inx(i) ? column(xcol) : NaN):(Y(i, YC)) with lines lc rgb "#d4d4d4" lw 1.2 notitle'
LINES = 'for [i=1:nm] csv using (X(i)):(Y(i, YC)) with linespoints lc rgb model_color(m(i)) pt model_pt(m(i)) dt model_dt(m(i)) lw 1.8 ps 1.1 title (mf(i) == j ? m(i) : "")'
ivl(i) = has(YLO) && has(YHI) ? sprintf("interval %s .. %s", gprintf("%.3s%c", column(YLO)), gprintf("%.3s%c", column(YHI))) : "no interval"
HOVER = 'for [i=1:nm] csv using (mine(i) ? column(xcol) : NaN):(Y(i, YC)):(sprintf("%s: %s (%s) at %s = %g", m(i), gprintf("%.3s%c", column(YC)), ivl(i), xlabel, column(xcol))) with labels hypertext point pt 7 ps 1.6 lc rgb "#FF000000" notitle'
FAILS = 'for [i=1:nm] csv using (mf(i) == j && failrow(i) ? column(xcol) : NaN):(failrow(i) ? YBOT : NaN) with points lc rgb model_color(m(i)) pt FAILED_PT ps 2.2 lw 2 notitle'
# markcol (a 0/1 column, "" = none): its 1s circled in the model's colour
# (the open-loop points whose generator failed its own test: gen_limited).
if (!exists("markcol")) markcol = ""
marked(i) = markcol ne "" ? (mine(i) && column(markcol) == 1) : 0
MARKS = 'for [i=1:nm] csv using (marked(i) ? column(xcol) : NaN):(Y(i, YC)) with points lc rgb model_color(m(i)) pt 6 ps 2.8 lw 1.5 notitle'
PANEL = "if (term eq 'svg') { plot @GREY, @BANDS, @BOXES, @LINES, @CLIPS, @MARKS, @HOVER, @FAILS } else { plot @GREY, @BANDS, @BOXES, @LINES, @CLIPS, @MARKS, @FAILS }"
# The figures alone (no interval): what sets the scales.
ALL = 'for [i=1:nm] csv using (inx(i) ? column(xcol) : NaN):(Y(i, YC)) with lines notitle'

# Figure k's settings: its columns, series and y scale.
SETK = "YC = value('y'.k); YLO = value('ylo'.k); YHI = value('yhi'.k); ILO = YLO; IHI = YHI; SER = value('series'.k); BOXED = value('box'.k); LOGY = value('logy'.k); if (LOGY) { set logscale y } else { unset logscale y }; set format y value('yfmt'.k)"

if (logx) { set logscale x logx } else { unset logscale x }
# One scale per figure across its panels, from every model's medians.
array ylo_k[2]; array yhi_k[2]; array xlo_k[2]; array xhi_k[2]
set terminal unknown
do for [k=1:np] {
    @SETK
    set yrange [*:*]
    set xrange [*:*]
    plot @ALL
    MED_LO = GPVAL_DATA_Y_MIN; MED_HI = GPVAL_DATA_Y_MAX
    xlo_k[k] = GPVAL_DATA_X_MIN / 1.25; xhi_k[k] = GPVAL_DATA_X_MAX * 1.25
    if (!logx) { xlo_k[k] = GPVAL_X_MIN; xhi_k[k] = GPVAL_X_MAX }
    @YRANGE
    ylo_k[k] = YBOT; yhi_k[k] = YTOP
}

# One x scale for the whole chart; a box is 5% of a panel wide.
XLO = xlo_k[1]; XHI = xhi_k[1]
if (np == 2) { XLO = xlo_k[2] < XLO ? xlo_k[2] : XLO; XHI = xhi_k[2] > XHI ? xhi_k[2] : XHI }
BOXF = logx ? (XHI / XLO) ** 0.025 : 1; BOXW = 0.025 * (XHI - XLO)

# The grid: families across (at most 4 a row), figures down.
nc = nf <= 3 ? nf : (nf == 4 ? 2 : (nf <= 6 ? 3 : 4))
rpf = int(ceil(nf * 1.0 / nc))
nr = np * rpf
# Pixels: the title; per figure a heading (its y label); per row of panels a
# key area (the family's name, its models in two rows), the plot, the x tics.
PT = 40; PF = 38; PK = 58; PP = 200; PX = 38; PB = 28
W = nc <= 2 ? 900 : (nc == 3 ? 1050 : 1250)
H = PT + np * PF + nr * (PK + PP + PX) + PB
@TERM_SET
if (term eq 'svg') { set termoption font 'Helvetica,13' } else { set termoption font 'Sans,12' }
sy(px) = 1 - px * 1.0 / H
sx(px) = px * 1.0 / W
# The panels' columns, with room on the right for the last column's key.
pw = (W - 40.0) / nc
set multiplot title title.title_note
# Each panel's key names its family's models in two rows above the plot.
set key at graph 0, graph 1 left bottom vertical maxrows 2 samplen 2 width -1 reverse Left noopaque nobox
set format x "%.0s%c"
unset ylabel; unset xlabel
COUNTING = 1
do for [k=1:np] {
    @SETK
    YBOT = ylo_k[k]; YTOP = yhi_k[k]
    set yrange [YBOT:YTOP]
    set xrange [XLO:XHI]
    top_k = PT + k * PF + (k - 1) * rpf * (PK + PP + PX)
    # A long heading (the syscalls figure's stand-in with its reason) in a smaller
    # font, on two lines split at its first "; " when one is not enough.
    L2 = value('ylabel'.k).(value('ptitle'.k) eq "" ? "" : ", ".value('ptitle'.k))
    cut = strlen(L2) * 6 > W - 24 ? strstrt(L2, "; ") : 0
    if (cut) {
        set label 2 L2[1:cut - 1].";" at screen sx(12), sy(top_k - PF * 0.98) left font ",10"
        set label 4 L2[cut + 2:] at screen sx(12), sy(top_k - PF * 0.55) left font ",10"
    } else {
        set label 2 L2 at screen sx(12), sy(top_k - PF * 0.62) left font (strlen(L2) * 8.5 > W - 24 ? ",10" : ",14")
    }
    do for [j=1:nf] {
        rl = (j - 1) / nc
        c = (j - 1) % nc
        ptop = top_k + rl * (PK + PP + PX) + PK
        set lmargin at screen sx(c * pw + 62)
        set rmargin at screen sx((c + 1) * pw - 14)
        set tmargin at screen sy(ptop)
        set bmargin at screen sy(ptop + PP)
        set label 1 value('fam'.j) at graph 0, graph 1 offset 0, char 3.1 left font ",13"
        # The x label once, under the whole grid (drawn with the last panel).
        if (k == np && j == nf) { set label 3 xlabel at screen 0.5, sy(H - PB * 0.45) center } else { unset label 3 }
        @PANEL
        unset label 2
        unset label 4
    }
}
unset multiplot

# The rows each model's colour line drew, for the chart checks.
set print outdir.'/'.chart.'.'.term.'.rows'
do for [k=1:np] {
    do for [i=1:nm] { print sprintf("%d\t%s\t%s\t%d", k, value('series'.k) eq "" ? "-" : value('series'.k), m(i), cnt[(k - 1) * nm + i]) }
}
unset print
