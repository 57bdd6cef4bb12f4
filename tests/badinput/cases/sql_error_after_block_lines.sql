SELECT {{ "1,\n  2,\n  3" }},
  no_such_column;
