# Malformed and hostile answers, one per answered question (tests/test_midterm.py states what each
# earns). Code questions are left out.
lstm_decay = "x" * 10_000_000           # a "number" of 10 MB of text
lstm_half_life = 0.5                    # a number where a function belongs
heavy_ball_range = "z"                  # not an option
heavy_ball_facts = [1, 2]               # not labels
heavy_ball_beta_min = float("nan")
lr_schedule_rule = ["b", "a"]           # two labels for a single choice
lr_schedule_trace = [[1.0]] * 10        # the wrong shape
free_energy_values = "0.445, 0.999, 1.0"
ebm_facts = ["a", "zz"]
elbo_gap = ["log p(x)", "= " + " + ".join(["log p(x)"] * 3000)]   # one step of 32 kB
elbo_discrete = {"log p(x)": -1.24}
batch_noise = 42                        # a number where text belongs
lstm_mitigate = "\x1b[2J\x1b[31mfull marks\u202e" + "A" * 100_000   # terminal escapes, a bidi override, 100 kB
