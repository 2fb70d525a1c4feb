"""Writes the small torch.save files tests/test_reward_errors.cpp reads (written with torch 1.13).

Run from this folder:  python3 make_pth_files.py
  module_state_dict.pth  nn.Sequential(...).state_dict(): an OrderedDict carrying _metadata, as public
                         checkpoints are saved (the test checks its names and shapes)
  not_a_dict.pth         torch.save([tensor]): a list, not a state dict
  non_tensor_value.pth   torch.save({"weight": tensor, "epoch": 3}): a dict with a non-tensor entry
  legacy.pth             the pre-1.6 (non-zip) torch.save format
"""
import torch


def main():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Dropout(0.1), torch.nn.Linear(3, 1))
    torch.save(net.state_dict(), "module_state_dict.pth")
    torch.save([torch.zeros(2)], "not_a_dict.pth")
    torch.save({"weight": torch.zeros(2), "epoch": 3}, "non_tensor_value.pth")
    torch.save({"weight": torch.zeros(2)}, "legacy.pth", _use_new_zipfile_serialization=False)


if __name__ == "__main__":
    main()
