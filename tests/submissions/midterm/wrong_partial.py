# %% [markdown]
# Answers that are wrong, partly right or right within the tolerance, one per answered question, in
# tagged cells: tests/test_midterm.py grades this script as a notebook and states what each answer
# earns. Code questions are left out.

# %%
import math

# %% tags=["lstm_decay"]
# the answer is in the next cell

# %% tags=["lstm_half_life"]
def lstm_half_life(f):                  # right at f = 0.5 and 0.9, wrong at 0.99
    return math.log(0.5) / math.log(f) if f < 0.95 else 69.0


lstm_decay = 0.0062                     # in another question's cell; 0.6 % off: in the 5 % band, half the points

# %% [markdown] tags=["lstm_mitigate"]
# The forget gate <script>alert(1)</script> keeps the gradient alive.

# %% tags=["heavy_ball_range"]
heavy_ball_range = "c"                  # wrong: -1 < beta < 1 ignores the step

# %% tags=["heavy_ball_facts"]
heavy_ball_facts = ["a", "c", "e"]      # two right, one wrong: (2 - 1) / 3

# %% tags=["heavy_ball_beta_min"]
heavy_ball_beta_min = -0.2504           # within the absolute tolerance 1e-3

# %% tags=["lr_schedule_rule"]
lr_schedule_rule = " (B) "              # right, written loosely

# %% tags=["lr_schedule_trace"]
lr_schedule_trace = [1.0, 1.0, 1.0, 1.0, 1.0, 0.5, 0.25, 0.25, 0.125]   # nine epochs, not ten

# %% tags=["free_energy_values"]
free_energy_values = [0.4451, 0.99933, 1.0]   # off by 1.3e-4 relative: in the 1 % band

# %% tags=["ebm_facts"]
ebm_facts = ["a", "b", "c", "d", "e", "f"]    # every option: three right, three wrong, floored at 0

# %% tags=["elbo_gap"]
elbo_gap = [                            # Bayes' rule shown, then step 4 drops the minus sign of log p(z|x)
    "log p(x)",
    "= E_q[log p(x)]",
    "= E_q[log p(x,z) - log p(z|x)]",
    "= E_q[log p(x,z) - log q(z|x)] + E_q[log q(z|x) + log p(z|x)]",
    "= ELBO + KL(q(z|x) || p(z|x))",
]

# %% tags=["elbo_discrete"]
elbo_discrete = [-1.2378743560016174, -1.270915869720199, 0.0303]   # the gap is off by 8 %
