WHO = "sys_path_hack"
