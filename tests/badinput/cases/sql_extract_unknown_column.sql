SELECT invoice_number, no_such_column FROM retail.user_purchase
