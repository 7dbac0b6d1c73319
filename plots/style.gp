# style.gp - the fixed model -> style table shared by every chart.
#
# One colour, one point type and one dash type per model, the same on every
# chart. Colours: the Okabe-Ito set (gnuplot's `colorsequence podo`), minus
# its yellow, which vanishes on white; 7 colours x 3 dash types, and a point
# type of its own per model, so no two models look alike even in grey.
# The order is harness/report.py's MODEL_ORDER; unknown models come after.

models_all = "threads busypoll select poll epoll_lt epoll_et sigio rtsig posix_aio libaio io_uring libevent libev libuv reactors pool coro prefork node java"
palette7 = "#000000 #E69F00 #56B4E9 #009E73 #0072B2 #D55E00 #CC79A7"
# open shapes first, then filled; pt 2 (x) is kept for failed points
points19 = "4 6 8 10 12 14 1 5 7 9 11 13 15 3 4 6 8 10 12 14 1"

model_idx(m) = strstrt(" ".models_all." ", " ".m." ") == 0 ? 21 : \
    words(substr(" ".models_all." ", 1, strstrt(" ".models_all." ", " ".m." "))) + 1
model_color(m) = word(palette7, (model_idx(m) - 1) % 7 + 1)
model_pt(m) = int(word(points19, (model_idx(m) - 1) % 21 + 1))
model_dt(m) = int((model_idx(m) - 1) / 7) % 3 + 1

FAILED_PT = 2          # a big x, in the model's colour, on the chart's floor
