# bands.gp - how every chart kind draws an interval: the y range from the
# figures (medians) alone, an interval's end held just past the panel's edge,
# the arrow that marks an interval running past it. Loaded by common.gp and
# compare.gp; needs LOGY (0/1) set before its functions are used.
#
# A panel's y range comes from the medians (the drawn figures) alone, never
# from an interval: one wide interval would flatten every line. YBOT/YTOP
# are a panel's range, LOGY its scale; MED_LO/MED_HI the medians' extremes
# (from a dry plot of the figures alone). YRANGE widens them by a margin
# (linear: from 0 to 8% over the top; log: a factor of at least 1.5 at both
# ends) and out to the next tic marks, with a dry plot (terminal unknown)
# of the two ends; it leaves x autoscaled.
fmax(a, b) = a > b ? a : b
logpad(lo, hi) = fmax(1.5, (hi / lo) ** 0.06)
ymargin_lo(lo, hi) = LOGY ? lo / logpad(lo, hi) : (lo < 0 ? lo - 0.08 * (hi - lo) : 0)
ymargin_hi(lo, hi) = LOGY ? hi * logpad(lo, hi) : (hi > 0 ? hi + 0.08 * (hi - (lo < 0 ? lo : 0)) : 1)
YRANGE = "set xrange [*:*]; set yrange [*:*]; plot sample [t=0:1:1] '+' using (1 + t):(t < 0.5 ? ymargin_lo(MED_LO, MED_HI) : ymargin_hi(MED_LO, MED_HI)) with points notitle; YBOT = GPVAL_Y_MIN; YTOP = GPVAL_Y_MAX"
# y at a fraction f of a panel's height: 0 the floor, 1 the top.
yat(f) = LOGY ? YBOT * (YTOP / YBOT) ** f : YBOT + f * (YTOP - YBOT)
# An interval's end held just outside the panel: a band is clipped at the
# border, and on a log axis an end <= 0 still has a place.
clampy(v) = v != v ? v : (v < yat(-0.05) ? yat(-0.05) : (v > yat(1.05) ? yat(1.05) : v))
# Where an interval runs past the panel's edge, an arrow in the model's
# colour points on, from 5% inside the panel to its border (`with vectors`).
above(hi) = hi == hi && hi > YTOP
below(lo) = lo == lo && lo < YBOT
BAND_FS = "fs transparent solid 0.13 noborder"
ARROW_HEAD = "head filled size screen 0.007,25"

# The layers of a lines-like kind (lines.gp, panels.gp, scaling.gp), which
# define: mine(i) (a row model i draws), YV(i) (its figure), IV(i, c) (an
# interval's end from column c held by clampy; NaN where the CSV has none,
# which breaks the band), ILO/IHI (the interval's columns), xcol, logx, BOXED (box<k>:
# per model the x values of its points drawn as boxes, ",x,x,") and
# BOXF/BOXW (a box's half width: a factor on a log x axis, else a width).
# A band needs a stretch of two points or more with intervals and x rising
# (charts.boxed); any other point's interval is a small box.
boxed(i) = strstrt(word(BOXED, i), sprintf(",%g,", column(xcol))) > 0
bx(x, s) = logx ? x * BOXF ** s : x + s * BOXW
BANDS = 'for [i=1:nm] csv using (mine(i) && !boxed(i) ? column(xcol) : NaN):(IV(i, ILO)):(IV(i, IHI)) with filledcurves @BAND_FS lc rgb model_color(m(i)) notitle'
BOXED_AT = 'mine(i) && boxed(i)'
BOXES = 'for [i=1:nm] csv using (@BOXED_AT ? column(xcol) : NaN):(YV(i)):(@BOXED_AT ? bx(column(xcol), -1) : NaN):(@BOXED_AT ? bx(column(xcol), 1) : NaN):(IV(i, ILO)):(IV(i, IHI)) with boxxyerror @BAND_FS lc rgb model_color(m(i)) notitle'
CLIPS = 'for [i=1:nm] csv using (mine(i) && above(column(IHI)) ? column(xcol) : NaN):(yat(0.95)):(0):(YTOP - yat(0.95)) with vectors @ARROW_HEAD lw 1.2 lc rgb model_color(m(i)) notitle, for [i=1:nm] csv using (mine(i) && below(column(ILO)) ? column(xcol) : NaN):(yat(0.05)):(0):(YBOT - yat(0.05)) with vectors @ARROW_HEAD lw 1.2 lc rgb model_color(m(i)) notitle'
