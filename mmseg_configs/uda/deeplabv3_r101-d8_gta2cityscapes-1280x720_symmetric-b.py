# Model B of the symmetric recipe at paper scale: GTA5 (untranslated) +
# Cityscapes translated to the GTA5 style by a target -> source DA-KPN
# (tools/train_dakpn.py mmseg_configs/dakpn_fcn-r50_gta2cityscapes-720x1280.py
# --reverse), AdaptSegNet multi-level adversarial alignment with the
# settings of deeplabv3_r101-d8_gta2cityscapes-1280x720_adversarial.py
# (model A is that config with --bundle S2T). The seed system uses
# DeepLabV2-R101; mmseg 1.x has DeepLabV3. One command for both models,
# the pseudo-label rounds and the fusion:
#   tools/train_symmetric.py --config-a <the adversarial config> \
#       --config-b <this config> --bundle S2T --target-bundle T2S ...
_base_ = ['./deeplabv3_r101-d8_gta2cityscapes-1280x720_adversarial.py']
reverse_bundle = 'work_dirs/dakpn_reverse/dakpn_bundle.pth'
model = dict(target_translation=dict(
    _delete_=True, checkpoint=reverse_bundle, prob=1.0))
