#!/bin/sh
# run-local.sh — `make run`: the whole reference pipeline on this machine, no cloud account.
# Installs what is missing (apt-get when root, else prints the command), builds, starts the private
# PostgreSQL cluster under .ubpipe/, generates and loads the demo data once, runs the pipeline for the
# demo ds and prints the top rows of user_behavior_metric.  A second run is quick and changes nothing.
set -eu
cd "$(dirname "$0")/.."
DS=${UBPIPE_DEMO_DS:-2021-04-30}
sh scripts/deps.sh install run
make -s
sh scripts/stack.sh start
sh scripts/demo-data.sh
STATE=${UBPIPE_HOME:-$PWD/.ubpipe}
./ubpipe run pipelines/user_behavior.yaml --ds "$DS" -p movie_review_file="$STATE/demo/movie_review.csv"
echo
echo "Top 10 rows of public.user_behavior_metric for $DS (by amount spent):"
sh scripts/stack.sh psql warehouse -c "SELECT customerid, amount_spent, review_score, review_count, insert_date
  FROM public.user_behavior_metric WHERE insert_date = '$DS' ORDER BY amount_spent DESC, customerid LIMIT 10"
