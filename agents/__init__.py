"""Learners (Double DQN, PPO/MAPPO, DRQN) and heuristic baselines. Never imports pybridge."""
