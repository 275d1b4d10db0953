set req.backend = F_Warehouse;
