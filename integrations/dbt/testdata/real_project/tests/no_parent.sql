select 1 as failure where false
